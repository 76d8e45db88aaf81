"""RTCP sender and receiver reports (RFC 3550 §6.4), multiplexed with RTP (RFC 5761).

Only what the media statistics need: SR (PT 200) and RR (PT 201) with report blocks, so that each
end computes the round-trip time of RFC 3550 §6.4.1 (``A - LSR - DLSR``). Other RTCP packet types
in a compound packet are kept as :class:`RtcpOther`. NTP times are 64-bit fixed point
(RFC 3550 §4); :func:`ntp_from_unix` converts a float clock reading.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from lab.proto.rtp.errors import ParseError

PT_SR: Final = 200
PT_RR: Final = 201
NTP_UNIX_OFFSET: Final = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
_COMMON = struct.Struct("!BBH")
_BLOCK = struct.Struct("!IIIIII")
_SENDER_INFO = struct.Struct("!IQIII")


def ntp_from_unix(seconds: float) -> int:
    """64-bit NTP timestamp of a Unix time in seconds (RFC 3550 §4)."""
    return int((seconds + NTP_UNIX_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the unit of LSR and of ``A`` (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


@dataclass(frozen=True)
class ReportBlock:
    """One reception report (RFC 3550 §6.4.1). ``lost`` is signed 24-bit; jitter, LSR and DLSR
    are in timestamp units, NTP middle bits and 1/65536 s."""

    ssrc: int
    fraction_lost: int
    lost: int
    highest_seq: int
    jitter: int
    lsr: int
    dlsr: int

    def encode(self) -> bytes:
        lost = self.lost & 0xFFFFFF
        return _BLOCK.pack(self.ssrc, (self.fraction_lost & 0xFF) << 24 | lost,
                           self.highest_seq, self.jitter, self.lsr, self.dlsr)

    @classmethod
    def decode(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, fl, hs, jit, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        lost = fl & 0xFFFFFF
        if lost & 0x800000:
            lost -= 1 << 24
        return cls(ssrc, fl >> 24, lost, hs, jit, lsr, dlsr)


@dataclass(frozen=True)
class SenderReport:
    """SR (RFC 3550 §6.4.1): sender info plus reception reports."""

    ssrc: int
    ntp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()

    def encode(self) -> bytes:
        body = _SENDER_INFO.pack(self.ssrc, self.ntp, self.rtp_timestamp,
                                 self.packet_count & 0xFFFFFFFF, self.octet_count & 0xFFFFFFFF)
        return _packet(PT_SR, len(self.reports), body + b"".join(r.encode() for r in self.reports))


@dataclass(frozen=True)
class ReceiverReport:
    """RR (RFC 3550 §6.4.2)."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()

    def encode(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + b"".join(r.encode() for r in self.reports)
        return _packet(PT_RR, len(self.reports), body)


@dataclass(frozen=True)
class RtcpOther:
    """Any other RTCP packet of a compound packet (SDES, BYE, APP, ...), kept as bytes."""

    packet_type: int
    count: int
    body: bytes


RtcpPacket = SenderReport | ReceiverReport | RtcpOther


def _packet(pt: int, count: int, body: bytes) -> bytes:
    if count > 31:
        raise ValueError("at most 31 report blocks per RTCP packet")
    return _COMMON.pack(0x80 | count, pt, len(body) // 4) + body


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4: an RTP/RTCP frame whose second octet is 192..223 (PT 64..95 with M) is RTCP."""
    return len(data) >= 2 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP packet (RFC 3550 §6.1) into its packets."""
    out: list[RtcpPacket] = []
    offset = 0
    if not data:
        raise ParseError("empty RTCP packet")
    while offset < len(data):
        if len(data) - offset < _COMMON.size:
            raise ParseError(f"RTCP packet truncated at offset {offset}")
        b0, pt, words = _COMMON.unpack_from(data, offset)
        if b0 >> 6 != 2:
            raise ParseError(f"RTCP version {b0 >> 6} at offset {offset}, expected 2")
        end = offset + 4 + 4 * words
        if end > len(data):
            raise ParseError(f"RTCP length {words} words runs past the packet at offset {offset}")
        out.append(_parse_one(pt, b0 & 0x1F, data[offset + 4:end]))
        offset = end
    return out


def _parse_one(pt: int, count: int, body: bytes) -> RtcpPacket:
    if pt == PT_SR:
        need = _SENDER_INFO.size + count * _BLOCK.size
        if len(body) < need:
            raise ParseError(f"SR with {count} report blocks needs {need} bytes, has {len(body)}")
        ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body)
        blocks = _blocks(body, _SENDER_INFO.size, count)
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, blocks)
    if pt == PT_RR:
        need = 4 + count * _BLOCK.size
        if len(body) < need:
            raise ParseError(f"RR with {count} report blocks needs {need} bytes, has {len(body)}")
        (ssrc,) = struct.unpack_from("!I", body)
        return ReceiverReport(ssrc, _blocks(body, 4, count))
    return RtcpOther(pt, count, bytes(body))


def _blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    return tuple(ReportBlock.decode(body, offset + i * _BLOCK.size) for i in range(count))
