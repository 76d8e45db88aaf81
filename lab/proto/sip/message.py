"""SIP messages (RFC 3261 §7): start line, headers with compact forms and folding, body.

``parse(data)`` takes one whole message (as the stream framer or a datagram gives it) and returns
a :class:`Request` or :class:`Response`; the headers every message needs (§8.1.1: Via, From,
To, Call-ID, CSeq) and the single-valued ones are checked and typed at once, so that a
``ParseError`` carries the response code (400, 505) before any core sees the message.
``encode()`` writes canonical header names and always a correct ``Content-Length``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Final, Self

from lab.proto.ascii import bounded_int
from lab.proto.sip.address import NameAddr
from lab.proto.sip.cseq import CSeq
from lab.proto.sip.errors import ParseError
from lab.proto.sip.grammar import TOKEN, split_top
from lab.proto.sip.uri import Uri
from lab.proto.sip.via import Via

COMPACT: Final[dict[str, str]] = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
    "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To", "v": "Via",
    "o": "Event", "r": "Refer-To", "u": "Allow-Events", "b": "Referred-By", "x": "Session-Expires",
}
CANONICAL: Final[dict[str, str]] = {n.lower(): n for n in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Route", "Record-Route", "Max-Forwards",
    "Content-Type", "Content-Length", "Content-Encoding", "Subject", "Supported", "Require",
    "Proxy-Require", "Unsupported", "Allow", "Accept", "Expires", "User-Agent", "Server",
    "Reason", "Warning", "Date", "Timestamp", "Event", "Refer-To", "Allow-Events",
    "Referred-By", "Session-Expires", "Min-Expires", "Retry-After", "Authorization",
    "WWW-Authenticate", "Proxy-Authenticate", "Proxy-Authorization", "Path")}
LIST_HEADERS: Final = frozenset({"via", "contact", "route", "record-route"})
SINGLE_HEADERS: Final = frozenset({"from", "to", "call-id", "cseq", "max-forwards",
                                   "content-length", "content-type"})
REQUEST_LINE_RE: Final = re.compile(rf"^({TOKEN}) (\S+) SIP/(\d+\.\d+)$")
STATUS_LINE_RE: Final = re.compile(r"^SIP/(\d+\.\d+) (\d{3}) (.*)$")
HEADER_NAME_RE: Final = re.compile(rf"^({TOKEN})[ \t]*:")
MAX_FORWARDS_LIMIT: Final = 255
MAX_CONTENT_LENGTH: Final = 2**32 - 1


def canonical(name: str) -> str:
    """Long, canonically cased header name (compact forms expanded, §7.3.3)."""
    lname = name.lower()
    long = COMPACT.get(lname)
    if long is not None:
        return long
    return CANONICAL.get(lname, name)


@dataclass(frozen=True)
class Header:
    name: str
    value: str


@dataclass(frozen=True)
class _Message:
    headers: tuple[Header, ...] = ()
    body: bytes = b""

    # --- generic access -------------------------------------------------------------------
    def get(self, name: str) -> str | None:
        """First value of header ``name`` (any form), or None."""
        lname = canonical(name).lower()
        return next((h.value for h in self.headers if h.name.lower() == lname), None)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``; comma lists of the list headers split (§7.3.1)."""
        lname = canonical(name).lower()
        out: list[str] = []
        for h in self.headers:
            if h.name.lower() == lname:
                if lname in LIST_HEADERS:
                    out += [v.strip() for v in split_top(h.value, ",") if v.strip()]
                else:
                    out.append(h.value)
        return out

    def with_header(self, name: str, value: str | None) -> Self:
        """Replace every ``name`` header by one with ``value`` (dropped when None), in place
        of the first one or at the end."""
        lname = canonical(name).lower()
        out: list[Header] = []
        placed = value is None
        for h in self.headers:
            if h.name.lower() == lname:
                if not placed and value is not None:
                    out.append(Header(canonical(name), value))
                    placed = True
                continue
            out.append(h)
        if not placed and value is not None:
            out.append(Header(canonical(name), value))
        return replace(self, headers=tuple(out))

    def with_list(self, name: str, values: list[str]) -> Self:
        """Replace a list header by one line per value, at the first one's place."""
        lname = canonical(name).lower()
        first = next((i for i, h in enumerate(self.headers) if h.name.lower() == lname),
                     len(self.headers))
        rest = [h for h in self.headers if h.name.lower() != lname]
        before = [h for h in self.headers[:first] if h.name.lower() != lname]
        new = [Header(canonical(name), v) for v in values]
        return replace(self, headers=tuple(before + new + rest[len(before):]))

    def prepend(self, name: str, value: str) -> Self:
        """Add ``name: value`` above every existing ``name`` (Via, Record-Route)."""
        return self.with_list(name, [value, *self.get_all(name)])

    def with_body(self, body: bytes, content_type: str | None) -> Self:
        msg = replace(self, body=body)
        return msg.with_header("Content-Type", content_type if body else None)

    # --- typed accessors ------------------------------------------------------------------
    @cached_property
    def via(self) -> list[Via]:
        return [Via.parse(v) for v in self.get_all("Via")]

    @cached_property
    def from_(self) -> NameAddr:
        return NameAddr.parse(self._required("From"))

    @cached_property
    def to(self) -> NameAddr:
        return NameAddr.parse(self._required("To"))

    @property
    def call_id(self) -> str:
        return self._required("Call-ID").strip()

    @cached_property
    def cseq(self) -> CSeq:
        return CSeq.parse(self._required("CSeq"))

    @cached_property
    def contact(self) -> list[NameAddr]:
        return [NameAddr.parse(v) for v in self.get_all("Contact") if v.strip() != "*"]

    @cached_property
    def route(self) -> list[NameAddr]:
        return [NameAddr.parse(v) for v in self.get_all("Route")]

    @cached_property
    def record_route(self) -> list[NameAddr]:
        return [NameAddr.parse(v) for v in self.get_all("Record-Route")]

    @cached_property
    def max_forwards(self) -> int | None:
        value = self.get("Max-Forwards")
        if value is None:
            return None
        value = value.strip()
        hops = bounded_int(value, MAX_FORWARDS_LIMIT)
        if hops is None:
            raise ParseError(f"bad Max-Forwards {value[:40]!r}")
        return hops

    @property
    def content_type(self) -> str | None:
        value = self.get("Content-Type")
        return value.strip() if value is not None else None

    @cached_property
    def content_length(self) -> int | None:
        value = self.get("Content-Length")
        if value is None:
            return None
        value = value.strip()
        length = bounded_int(value, MAX_CONTENT_LENGTH)
        if length is None:
            raise ParseError(f"bad Content-Length {value[:40]!r}")
        return length

    def _required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise ParseError(f"missing {name} header")
        return value

    def _check(self) -> None:
        """Type every header the cores rely on (raises ParseError with its status)."""
        counts: dict[str, int] = {}
        for h in self.headers:
            counts[h.name.lower()] = counts.get(h.name.lower(), 0) + 1
        for name in SINGLE_HEADERS:
            if counts.get(name, 0) > 1:
                raise ParseError(f"more than one {canonical(name)} header")
        if not self.via:
            raise ParseError("missing Via header")
        _ = (self.from_, self.to, self.call_id, self.cseq, self.contact, self.route,
             self.record_route, self.max_forwards, self.content_length)

    def _encode(self, start: str) -> bytes:
        lines = [start]
        lines += [f"{h.name}: {h.value}" for h in self.headers if h.name != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass(frozen=True)
class Request(_Message):
    method: str = "OPTIONS"
    uri: Uri = field(default_factory=lambda: Uri("sip", "invalid"))

    def encode(self) -> bytes:
        return self._encode(f"{self.method} {self.uri} SIP/2.0")

    def __bytes__(self) -> bytes:
        return self.encode()


@dataclass(frozen=True)
class Response(_Message):
    status: int = 200
    reason: str = "OK"

    def encode(self) -> bytes:
        return self._encode(f"SIP/2.0 {self.status} {self.reason}")

    def __bytes__(self) -> bytes:
        return self.encode()


Message = Request | Response


def parse(data: bytes) -> Message:
    """Parse one whole message (RFC 3261 §7). Trailing octets past Content-Length are dropped
    (§18.3); a body shorter than Content-Length is an error."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ParseError("no empty line after the headers", status=None)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("headers are not UTF-8") from None
    lines = _unfold(text.split("\r\n"))
    headers = tuple(_header(line) for line in lines[1:])
    msg = _start_line(lines[0], headers)
    length = msg.content_length
    if length is not None:
        if len(body) < length:
            raise ParseError(f"body of {len(body)} octets, Content-Length says {length}")
        body = body[:length]
    msg = replace(msg, body=body)
    msg._check()
    if isinstance(msg, Request) and msg.cseq.method != msg.method:
        raise ParseError(f"CSeq method {msg.cseq.method} differs from {msg.method}")
    return msg


def _unfold(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and len(out) > 1:
            out[-1] = out[-1].rstrip(" \t") + " " + line.lstrip(" \t")
        elif line[:1] in (" ", "\t"):
            raise ParseError("continuation line where a header must start")
        else:
            out.append(line)
    return out


def _header(line: str) -> Header:
    m = HEADER_NAME_RE.match(line)
    if m is None:
        raise ParseError(f"bad header line {line[:40]!r}")
    return Header(canonical(m.group(1)), line[m.end():].strip(" \t"))


def _start_line(line: str, headers: tuple[Header, ...]) -> Message:
    if line.startswith("SIP/"):
        m = STATUS_LINE_RE.match(line)
        if m is None:
            raise ParseError(f"bad status line {line[:40]!r}", status=None)
        if m.group(1) != "2.0":
            raise ParseError(f"unsupported version SIP/{m.group(1)}", status=None)
        status = bounded_int(m.group(2), 699) or 0
        if not 100 <= status <= 699:
            raise ParseError(f"status code {status} outside 100..699", status=None)
        return Response(headers, b"", status, m.group(3))
    m = REQUEST_LINE_RE.match(line)
    if m is None:
        raise ParseError(f"bad request line {line[:60]!r}")
    method, uri_text, version = m.groups()
    uri = Uri.parse(uri_text)
    if uri.is_sip and uri.headers is not None:
        raise ParseError("Request-URI must not carry headers (§19.1.5)")
    if version != "2.0":
        raise ParseError(f"unsupported version SIP/{version}", status=505)
    return Request(headers, b"", method, uri)


def error_response(head: bytes, status: int, reason: str) -> Response | None:
    """A response to a request that failed to parse, from its raw headers (§8.2.6, §21.4.1):
    Via, From, To, Call-ID and CSeq copied as they are. None when it was not a request or those
    headers cannot be found (the transport then just closes)."""
    try:
        lines = _unfold(head.split(b"\r\n\r\n", 1)[0].decode("utf-8").split("\r\n"))
        headers = [_header(line) for line in lines[1:] if line]
    except (UnicodeDecodeError, ParseError):
        return None
    if not lines or lines[0].startswith("SIP/"):
        return None
    keep = ("Via", "From", "To", "Call-ID", "CSeq")
    copied = tuple(h for h in headers if h.name in keep)
    if {h.name for h in copied} != set(keep):
        return None
    return Response(copied, b"", status, reason)
