"""RTP data packets (RFC 3550 §5.1, §5.3.1).

::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    |                           timestamp                           |
    |           synchronization source (SSRC) identifier            |
    |            contributing source (CSRC) identifiers             |
    |                             ....                              |

Pure functions: :func:`parse_rtp` and :meth:`RtpPacket.encode`; bad bytes raise
:class:`lab.proto.rtp.ParseError` and nothing else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from lab.proto.rtp.errors import ParseError

RTP_VERSION: Final = 2
HEADER = struct.Struct("!BBHII")
SHARE_PAYLOAD_TYPE: Final = 127  # x-data/90000, flow.md §4
SHARE_CLOCK_RATE: Final = 90000


@dataclass(frozen=True)
class RtpExtension:
    """The one header extension of RFC 3550 §5.3.1: 16-bit profile word and 32-bit words."""

    profile: int
    data: bytes


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet. ``padding`` is the number of padding octets (0: the P bit is clear)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"payload type {self.payload_type} outside 0..127")
        if not 0 <= self.sequence <= 0xFFFF:
            raise ValueError(f"sequence {self.sequence} outside 0..65535")
        if not 0 <= self.timestamp <= 0xFFFFFFFF or not 0 <= self.ssrc <= 0xFFFFFFFF:
            raise ValueError("timestamp and SSRC are 32-bit unsigned values")
        if len(self.csrc) > 15:
            raise ValueError("at most 15 CSRC identifiers (4-bit CC)")
        if not 0 <= self.padding <= 255:
            raise ValueError("padding is 0..255 octets")
        if self.extension is not None and len(self.extension.data) % 4:
            raise ValueError("extension data is a whole number of 32-bit words")

    def encode(self) -> bytes:
        """The packet's bytes (RFC 3550 §5.1)."""
        b0 = (RTP_VERSION << 6) | (0x20 if self.padding else 0) | len(self.csrc)
        if self.extension is not None:
            b0 |= 0x10
        b1 = (0x80 if self.marker else 0) | self.payload_type
        parts = [HEADER.pack(b0, b1, self.sequence, self.timestamp, self.ssrc)]
        parts += [struct.pack("!I", c) for c in self.csrc]
        if self.extension is not None:
            ext = self.extension
            parts.append(struct.pack("!HH", ext.profile, len(ext.data) // 4) + ext.data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)

    def __bytes__(self) -> bytes:
        return self.encode()


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP packet (RFC 3550 §5.1, validity checks of Appendix A.1)."""
    if len(data) < HEADER.size:
        raise ParseError(f"RTP packet of {len(data)} bytes is shorter than the 12-byte header")
    b0, b1, seq, ts, ssrc = HEADER.unpack_from(data)
    if b0 >> 6 != RTP_VERSION:
        raise ParseError(f"RTP version {b0 >> 6}, expected 2")
    pt = b1 & 0x7F
    if 72 <= pt <= 76:
        raise ParseError(f"payload type {pt} with the marker bit is RTCP (RFC 5761 §4), not RTP")
    offset = HEADER.size
    cc = b0 & 0x0F
    if len(data) < offset + 4 * cc:
        raise ParseError(f"RTP packet truncated inside its {cc} CSRC identifiers")
    csrc = struct.unpack_from(f"!{cc}I", data, offset)
    offset += 4 * cc
    extension = None
    if b0 & 0x10:
        if len(data) < offset + 4:
            raise ParseError("RTP packet truncated inside its header extension")
        profile, words = struct.unpack_from("!HH", data, offset)
        end = offset + 4 + 4 * words
        if len(data) < end:
            raise ParseError(f"RTP header extension of {words} words runs past the packet")
        extension = RtpExtension(profile, bytes(data[offset + 4:end]))
        offset = end
    end = len(data)
    padding = 0
    if b0 & 0x20:
        padding = data[-1]
        if padding == 0 or offset + padding > end:
            raise ParseError(f"RTP padding count {padding} is invalid for this packet")
        end -= padding
    return RtpPacket(pt, seq, ts, ssrc, bytes(data[offset:end]), bool(b1 & 0x80), tuple(csrc),
                     extension, padding)
