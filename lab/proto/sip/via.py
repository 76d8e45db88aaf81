"""The Via header (RFC 3261 §20.42, §18.2.1 received/rport, RFC 3581, RFC 5923 alias)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

from lab.proto.ascii import bounded_int
from lab.proto.sip.errors import ParseError
from lab.proto.sip.grammar import TOKEN
from lab.proto.sip.params import Params, get_param, parse_params, render_params, set_param

MAGIC_COOKIE: Final = "z9hG4bK"
VIA_RE: Final = re.compile(
    rf"^SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*({TOKEN})[ \t]+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)"
    r"(?:[ \t]*:[ \t]*(\d+))?[ \t]*(;.*)?$", re.S)


@dataclass(frozen=True)
class Via:
    """``SIP/2.0/TLS host:port;branch=z9hG4bK...``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @property
    def branch(self) -> str | None:
        return get_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        return get_param(self.params, "received")

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None) -> Via:
        return replace(self, params=set_param(self.params, name, value))

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{render_params(self.params)}"

    @classmethod
    def parse(cls, text: str) -> Via:
        m = VIA_RE.match(text.strip())
        if m is None:
            raise ParseError(f"bad Via {text.strip()[:60]!r}")
        transport, host, port, params = m.groups()
        number = bounded_int(port, 65535) if port is not None else None
        if port is not None and number is None:
            raise ParseError(f"bad Via port {port[:20]}")
        return cls(transport.upper(), host, number,
                   parse_params(params or "", "Via"))
