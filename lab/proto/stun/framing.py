"""Stream framers: where one message ends in a TCP byte stream.

* :class:`StunStreamFramer`: STUN (and TURN ChannelData) straight on TCP, as on a TURN control
  connection (RFC 8489 §6.2.2, RFC 8656 §12.5). The length comes from the header.
* :class:`Rfc4571Framer`: a 2-byte length before every frame (RFC 4571 §2), as ICE and RTP use
  inside an RFC 6062 data connection (MS-ICE2 §2.2.1, RFC 6544 §3).

Both pull one frame at a time (:meth:`next_frame`), so that a caller can stop after a message
(a ConnectionBind) and take the rest of the buffer raw (:meth:`take_buffered`). Both have a
size cap: a frame announced longer than ``max_size`` raises :class:`ParseError` before any of it
is buffered.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from lab.proto.stun.errors import ParseError
from lab.proto.stun.kinds import MAGIC_COOKIE

_COOKIE = struct.pack("!I", MAGIC_COOKIE)


def channel_data(number: int, data: bytes) -> bytes:
    """A ChannelData frame for a stream (RFC 8656 §12.4-§12.5: padded to 4 bytes on TCP)."""
    return number.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data + bytes(-len(data) % 4)


def is_channel_data(frame: bytes) -> bool:
    """True if ``frame`` starts like TURN ChannelData (first two bits 01, RFC 8656 §12.4)."""
    return len(frame) >= 1 and frame[0] & 0xC0 == 0x40


class _Framer:
    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buf += data

    def _frame_size(self) -> int | None:
        raise NotImplementedError

    def next_frame(self) -> bytes | None:
        """The next complete frame, or None if more bytes are needed; ParseError on garbage."""
        size = self._frame_size()
        if size is None or len(self._buf) < size:
            return None
        frame = bytes(self._buf[:size])
        del self._buf[:size]
        return frame

    def frames(self) -> Iterator[bytes]:
        """Every complete frame buffered so far."""
        while (frame := self.next_frame()) is not None:
            yield frame

    def take_buffered(self) -> bytes:
        """Remove and return the bytes not yet framed (e.g. relayed data after ConnectionBind)."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest

    @property
    def buffered(self) -> int:
        return len(self._buf)


class StunStreamFramer(_Framer):
    """STUN messages and ChannelData on a stream (RFC 8489 §6.2.2, RFC 8656 §12.5).

    Yields whole STUN messages (20-byte header + length) and, with ``channel_data=True``,
    whole ChannelData frames (channel 0x4000-0x7FFF, 4-byte header + length padded to 4 bytes as
    on TCP). Bytes that are neither raise ParseError as soon as the first bytes show it.
    """

    def __init__(self, max_size: int = 0xFFFF + 20, *,
                 channel_data: bool | Callable[[], bool] = False) -> None:
        """``channel_data``: True, or a function saying whether ChannelData may come now (a
        TURN server: only on a connection that holds a UDP allocation; elsewhere such bytes
        are garbage, such as an HTTP request, and must not be waited on as a frame)."""
        super().__init__(max_size)
        self._channels = channel_data if callable(channel_data) else (lambda: channel_data)

    def _frame_size(self) -> int | None:
        buf = self._buf
        if not buf:
            return None
        first = buf[0]
        channels = self._channels()
        channel = channels and 0x40 <= first <= 0x7F  # RFC 5766's 0x4000-0x7FFF
        if first & 0xC0 and not channel:
            raise ParseError(f"not STUN{' or ChannelData' * channels}: "
                             f"first byte {first:#04x}")
        if len(buf) < 4:
            return None
        length = int.from_bytes(buf[2:4], "big")
        if channel:
            size = 4 + length + (-length % 4)
        else:
            if length % 4:
                raise ParseError(f"STUN length {length} is not a multiple of 4")
            if len(buf) >= 8 and buf[4:8] != _COOKIE:
                raise ParseError("not a STUN message: wrong magic cookie")
            size = 20 + length
        if size > self.max_size:
            raise ParseError(f"frame of {size} bytes exceeds the cap of {self.max_size}")
        return size


class Rfc4571Framer(_Framer):
    """Frames preceded by a 16-bit big-endian length (RFC 4571 §2)."""

    def __init__(self, max_size: int = 0xFFFF) -> None:
        super().__init__(max_size)

    def _frame_size(self) -> int | None:
        if len(self._buf) < 2:
            return None
        length = int.from_bytes(self._buf[:2], "big")
        if length > self.max_size:
            raise ParseError(f"RFC 4571 frame of {length} bytes exceeds the cap of {self.max_size}")
        return 2 + length

    def next_frame(self) -> bytes | None:
        """The next payload (without its length prefix), or None if incomplete."""
        frame = super().next_frame()
        return None if frame is None else frame[2:]

    @staticmethod
    def frame(payload: bytes) -> bytes:
        """``payload`` with its RFC 4571 length prefix."""
        if len(payload) > 0xFFFF:
            raise ValueError(f"RFC 4571 payload of {len(payload)} bytes exceeds 65535")
        return struct.pack("!H", len(payload)) + payload
