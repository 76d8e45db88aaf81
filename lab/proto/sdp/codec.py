"""SDP session descriptions (RFC 4566), parsed and written line for line.

A description is ``v= o= s= [i= u= e= p=] [c=] [b=]* (t= [r=]*)+ [z=] [k=] a=* m=...``
(RFC 4566 §5); each media section is ``m= [i=] [c=] [b=]* [k=] a=*``. Unknown lines of a known
type are kept in order as :class:`Line` items so that ``str(SessionDescription.parse(x)) == x``
for any well-formed ``x`` written with CRLF line ends.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from lab.proto.ascii import bounded_int
from lab.proto.sdp.candidate import Candidate
from lab.proto.sdp.errors import ParseError

SESSION_TYPES: Final = "vosiuepcbtrzka"
MEDIA_TYPES: Final = "icbka"


@dataclass(frozen=True)
class Attribute:
    """``a=name`` or ``a=name:value`` (RFC 4566 §5.13)."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"

    @classmethod
    def parse(cls, text: str) -> Attribute:
        name, sep, value = text.partition(":")
        if not name or " " in name:
            raise ParseError(f"bad attribute name in a={text!r}")
        return cls(name, value if sep else None)


@dataclass(frozen=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> IN IP4 <address>`` (RFC 4566 §5.2)."""

    username: str
    session_id: str
    version: str
    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    def __str__(self) -> str:
        return (f"{self.username} {self.session_id} {self.version} {self.nettype} "
                f"{self.addrtype} {self.address}")

    @classmethod
    def parse(cls, text: str) -> Origin:
        parts = text.split(" ")
        if len(parts) != 6:
            raise ParseError(f"o= needs 6 fields: {text!r}")
        user, sid, ver, net, addrtype, addr = parts
        return cls(user, sid, ver, addr, net, addrtype)


@dataclass(frozen=True)
class Connection:
    """``c=IN IP4 <address>`` (RFC 4566 §5.7)."""

    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"

    @classmethod
    def parse(cls, text: str) -> Connection:
        parts = text.split(" ")
        if len(parts) != 3:
            raise ParseError(f"c= needs 3 fields: {text!r}")
        return cls(parts[2], parts[0], parts[1])


@dataclass(frozen=True)
class Line:
    """Any other ``x=value`` line (i, u, e, p, b, t, r, z, k), kept verbatim."""

    type: str
    value: str


@dataclass(frozen=True)
class MediaDescription:
    """One ``m=`` section: ``m=<media> <port> <proto> <fmt> ...`` and its lines."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: Connection | None = None
    lines: tuple[Line, ...] = ()
    attributes: tuple[Attribute, ...] = ()

    def get(self, name: str) -> str | None:
        """Value of the first ``a=name:value`` (None if absent or a flag)."""
        for attr in self.attributes:
            if attr.name == name:
                return attr.value
        return None

    def has(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)

    @property
    def candidates(self) -> list[Candidate]:
        """Every ``a=candidate`` of this section, parsed (RFC 5245 §15.1)."""
        return [Candidate.parse(a.value or "") for a in self.attributes if a.name == "candidate"]

    def with_attributes(self, attributes: tuple[Attribute, ...]) -> MediaDescription:
        return replace(self, attributes=attributes)

    def render(self) -> list[str]:
        out = [f"m={self.media} {self.port} {self.proto} {' '.join(self.formats)}"]
        out += [f"{ln.type}={ln.value}" for ln in self.lines if ln.type == "i"]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"{ln.type}={ln.value}" for ln in self.lines if ln.type != "i"]
        out += [f"a={a}" for a in self.attributes]
        return out


@dataclass(frozen=True)
class SessionDescription:
    """A whole SDP body. ``str(sd)`` writes it with CRLF line ends (RFC 4566 §5)."""

    origin: Origin
    name: str = "-"
    connection: Connection | None = None
    lines: tuple[Line, ...] = (Line("t", "0 0"),)
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()
    version: int = 0

    def __str__(self) -> str:
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.name}"]
        out += [f"{ln.type}={ln.value}" for ln in self.lines if ln.type in "iuep"]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"{ln.type}={ln.value}" for ln in self.lines if ln.type not in "iuep"]
        out += [f"a={a}" for a in self.attributes]
        for m in self.media:
            out += m.render()
        return "\r\n".join(out) + "\r\n"

    def encode(self) -> bytes:
        return str(self).encode("utf-8")

    @classmethod
    def parse(cls, text: str | bytes) -> SessionDescription:
        """Parse an SDP body; raise :class:`ParseError` naming the 1-based line on bad input."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ParseError(f"SDP is not UTF-8: {exc}") from None
        return _Parser(text).run()


class _Parser:
    def __init__(self, text: str) -> None:
        raw = text.split("\n")
        if raw and raw[-1] == "":
            raw.pop()
        self.lines = [ln.removesuffix("\r") for ln in raw]
        self.session: dict[str, str] = {}
        self.s_lines: list[Line] = []
        self.s_attrs: list[Attribute] = []
        self.media: list[MediaDescription] = []
        # the current m= section's lines, gathered and put into it once (not one copy of the
        # section per line, which made parsing quadratic in the number of a= lines)
        self.m_lines: list[Line] = []
        self.m_attrs: list[Attribute] = []

    def run(self) -> SessionDescription:
        if not self.lines or not self.lines[0].startswith("v="):
            raise ParseError("line 1: SDP must start with v=")
        for no, line in enumerate(self.lines, 1):
            if len(line) < 2 or line[1] != "=":
                raise ParseError(f"line {no}: not of the form <type>=<value>: {line!r}")
            try:
                self._line(line[0], line[2:])
            except ParseError as exc:
                raise ParseError(f"line {no}: {exc}") from None
        self._close_media()
        for need in "vos":
            if need not in self.session:
                raise ParseError(f"missing {need}= line")
        if self.session["v"] != "0":
            raise ParseError(f"unsupported SDP version v={self.session['v']}")
        conn = self.session.get("c")
        return SessionDescription(
            origin=Origin.parse(self.session["o"]), name=self.session["s"],
            connection=Connection.parse(conn) if conn is not None else None,
            lines=tuple(self.s_lines), attributes=tuple(self.s_attrs), media=tuple(self.media))

    def _line(self, typ: str, value: str) -> None:
        if typ == "m":
            self._close_media()
            self.media.append(_media_line(value))
            return
        if self.media:
            self._media_field(typ, value)
            return
        if typ not in SESSION_TYPES:
            raise ParseError(f"unknown session-level line type {typ!r}")
        if typ == "a":
            self.s_attrs.append(Attribute.parse(value))
        elif typ in "vosc":
            if typ in self.session:
                raise ParseError(f"second {typ}= line")
            if typ == "o":
                Origin.parse(value)
            elif typ == "c":
                Connection.parse(value)
            self.session[typ] = value
        else:
            self.s_lines.append(Line(typ, value))

    def _media_field(self, typ: str, value: str) -> None:
        if typ not in MEDIA_TYPES:
            raise ParseError(f"line type {typ!r} not allowed in a media section")
        if typ == "a":
            self.m_attrs.append(Attribute.parse(value))
        elif typ == "c":
            if self.media[-1].connection is not None:
                raise ParseError("second c= line in a media section")
            self.media[-1] = replace(self.media[-1], connection=Connection.parse(value))
        else:
            self.m_lines.append(Line(typ, value))

    def _close_media(self) -> None:
        if self.media and (self.m_lines or self.m_attrs):
            self.media[-1] = replace(self.media[-1], lines=tuple(self.m_lines),
                                     attributes=tuple(self.m_attrs))
        self.m_lines, self.m_attrs = [], []


def _media_line(value: str) -> MediaDescription:
    parts = value.split(" ")
    if len(parts) < 4:
        raise ParseError(f"m= needs media, port, proto and formats: {value!r}")
    media, port, proto, *formats = parts
    port_text = port.split("/", 1)[0]
    number = bounded_int(port_text, 65535)
    if number is None:
        raise ParseError(f"bad m= port {port[:20]!r}")
    return MediaDescription(media, number, proto, tuple(formats))
