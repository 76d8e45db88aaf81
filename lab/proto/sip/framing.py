"""Stream framing of SIP over TCP/TLS (RFC 3261 §18.3) with RFC 5626 §3.5.1 keep-alives.

A message ends ``Content-Length`` octets after the empty line; on a stream the header is
mandatory. Between messages a double CRLF is a keep-alive *ping* (answer with one CRLF) and a
single CRLF a *pong*. Header block and body are capped; past a cap the connection cannot be
resynchronised, so the error tells the transport to answer (when it can) and close. Bytes that
cannot start a message (§7.1 Request-Line ``Method SP``, §7.2 ``SIP/``; no control octet in the
first line) are refused as soon as they arrive: garbage, a TLS hello on a TCP port, a binary
protocol, never wait for a header block that will not come.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from lab.proto.ascii import bounded_int, is_digits

CRLF: Final = b"\r\n"
PING: Final = b"\r\n\r\n"
CL_RE: Final = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([^\s]*)[ \t]*\r?$", re.I | re.M)
TOKEN_OCTETS: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                                b"-.!%*_+`'~")
START_RE: Final = re.compile(rb"SIP/|[-A-Za-z0-9.!%*_+`'~]+ ")
CONTROL_RE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Frame:
    """One whole message, ready for :func:`lab.proto.sip.message.parse`."""

    data: bytes


@dataclass(frozen=True)
class Ping:
    """A CRLFCRLF keep-alive: answer with :data:`CRLF`."""


@dataclass(frozen=True)
class Pong:
    """A CRLF keep-alive answer."""


Event = Frame | Ping | Pong


class FramingError(Exception):
    """The stream can no longer be framed. ``status`` is the response to send (built from
    ``head``, the header block, when complete) before closing; None: just close. ``events``:
    what the same :meth:`SipStreamFramer.feed` framed before the error, to be handled first."""

    def __init__(self, reason: str, status: int | None, head: bytes | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.head = head
        self.events: list[Event] = []


class SipStreamFramer:
    """Cut a byte stream into SIP messages and keep-alives."""

    def __init__(self, max_header: int = 16384, max_body: int = 65536) -> None:
        self.max_header = max_header
        self.max_body = max_body
        self._buf = bytearray()
        self._need: int | None = None  # total length of the message being read
        self._awaiting_pong = False

    def ping_sent(self) -> None:
        """We sent a ping: the next lone CRLF is its pong (RFC 5626 §4.4.1)."""
        self._awaiting_pong = True

    def feed(self, data: bytes) -> list[Event]:
        """Add received octets; return every complete event. Raises :class:`FramingError`."""
        self._buf += data
        out: list[Event] = []
        while True:
            try:
                event = self._next()
            except FramingError as exc:
                exc.events = out
                raise
            if event is None:
                return out
            out.append(event)

    def _next(self) -> Event | None:
        buf = self._buf
        if self._need is None:
            if buf.startswith(PING):
                del buf[:4]
                return Ping()
            third = bytes(buf[2:3])
            if buf.startswith(CRLF) and (self._awaiting_pong or third not in (b"", b"\r")):
                del buf[:2]  # a pong, or a stray CRLF before a start line (§7.5)
                self._awaiting_pong = False
                return Pong()
            if buf.startswith(CRLF) or buf == b"\r":
                return None  # part of a ping: wait for the rest
            self._check_start(buf)
            end = buf.find(PING)
            if end < 0:
                if len(buf) > self.max_header:
                    raise FramingError(f"header block over {self.max_header} octets", None)
                return None
            head = bytes(buf[:end])
            if end > self.max_header:
                raise FramingError(f"header block over {self.max_header} octets", None)
            self._need = end + 4 + self._body_length(head)
        if len(buf) < self._need:
            return None
        frame = bytes(buf[:self._need])
        del buf[:self._need]
        self._need = None
        return Frame(frame)

    def _check_start(self, buf: bytearray) -> None:
        """Refuse what cannot be the start of a message (no response can be built: close)."""
        if not buf:
            return
        eol = buf.find(CRLF, 0, self.max_header)
        line = bytes(buf[:eol] if eol >= 0 else buf[:self.max_header].removesuffix(b"\r"))
        bad = CONTROL_RE.search(line)
        if buf[0] not in TOKEN_OCTETS or bad is not None or (
                eol >= 0 and START_RE.match(line) is None):
            where = f"octet 0x{line[bad.start()]:02x}" if bad else repr(line[:20])
            raise FramingError(f"not a SIP start line ({where})", None)

    def _body_length(self, head: bytes) -> int:
        values = CL_RE.findall(head)
        if not values:
            raise FramingError("no Content-Length on a stream transport", 400, head)
        if len(values) > 1 or not is_digits(values[0]):
            raise FramingError("bad Content-Length", 400, head)
        length = bounded_int(values[0].decode("ascii"), self.max_body)
        if length is None:
            raise FramingError(f"body of {values[0][:20].decode()} octets over "
                               f"{self.max_body}", 413, head)
        return length
