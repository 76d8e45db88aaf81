"""SIP URIs (RFC 3261 §19.1) and other absolute URIs, kept opaque (RFC 3986 scheme only)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

from lab.proto.ascii import bounded_int
from lab.proto.sip.errors import ParseError
from lab.proto.sip.params import Params, get_param, parse_params, render_params

SCHEME_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")
HOST_RE: Final = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)$")
SIP_SCHEMES: Final = ("sip", "sips")


@dataclass(frozen=True)
class Uri:
    """``sip:user:password@host:port;params?headers``; for other schemes only ``opaque``."""

    scheme: str
    host: str = ""
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = ()
    headers: str | None = None
    opaque: str | None = None

    @property
    def is_sip(self) -> bool:
        return self.scheme.lower() in SIP_SCHEMES

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    @property
    def transport(self) -> str:
        """Transport named by ``;transport=`` (lower case), default by scheme (§19.1.2)."""
        value = self.param("transport")
        if value:
            return value.lower()
        return "tls" if self.scheme.lower() == "sips" else "udp"

    @property
    def lr(self) -> bool:
        """Loose routing flag (RFC 3261 §19.1.1)."""
        return self.param("lr") is not None

    def with_(self, **changes: object) -> Uri:
        return replace(self, **changes)  # type: ignore[arg-type]

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        text = f"{self.scheme}:"
        if self.user is not None:
            text += self.user
            if self.password is not None:
                text += f":{self.password}"
            text += "@"
        text += self.host
        if self.port is not None:
            text += f":{self.port}"
        text += render_params(self.params)
        if self.headers is not None:
            text += f"?{self.headers}"
        return text

    @classmethod
    def parse(cls, text: str) -> Uri:
        """Parse an absolute URI; SIP/SIPS URIs are split into their parts."""
        if not text or any(c in text for c in " \t\r\n<>\""):
            raise ParseError(f"bad URI {text!r}")
        scheme, colon, rest = text.partition(":")
        if not colon or not SCHEME_RE.match(scheme) or not rest:
            raise ParseError(f"bad URI scheme in {text!r}")
        if scheme.lower() not in SIP_SCHEMES:
            return cls(scheme, opaque=rest)
        user = password = None
        at = rest.rfind("@")
        if at >= 0:
            userinfo, rest = rest[:at], rest[at + 1:]
            user, _, pw = userinfo.partition(":")
            password = pw if _ else None
            if not user:
                raise ParseError(f"empty user part in {text!r}")
        rest, q, headers = rest.partition("?")
        hostport, _, params = rest.partition(";")
        host, port = _hostport(hostport, text)
        return cls(scheme, host, user, password, port,
                   parse_params(";" + params, "URI") if _ else (), headers if q else None)


def _hostport(text: str, uri: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[:end + 1], text[end + 1:]
    else:
        host, _, port_text = text.partition(":")
        rest = f":{port_text}" if _ else ""
    if not HOST_RE.match(host):
        raise ParseError(f"bad host in URI {uri!r}")
    if not rest:
        return host, None
    port = bounded_int(rest[1:], 65535) if rest.startswith(":") else None
    if port is None:
        raise ParseError(f"bad port in URI {uri!r}")
    return host, port
