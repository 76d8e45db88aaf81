"""The ICE candidate model: ``a=candidate`` lines in MS-ICE2 and RFC 5245/6544 syntax.

RFC 5245 §15.1::

    candidate-attribute = "candidate" ":" foundation SP component-id SP transport SP priority SP
                          connection-address SP port SP "typ" SP cand-type
                          [SP "raddr" SP addr SP "rport" SP port] *(SP extension-att-name SP value)

MS-ICE2 writes the TCP direction in the transport token (``TCP-PASS``, ``TCP-ACT``) and gives
active candidates their real port; RFC 6544 §4.5 writes ``TCP`` plus ``tcptype active|passive|so``.
Both are accepted on input; :attr:`Candidate.direction` gives the direction whatever the syntax.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from lab.proto.ascii import bounded_int, is_digits
from lab.proto.sdp.errors import ParseError

MS_TRANSPORTS: Final[dict[str, str]] = {"TCP-PASS": "passive", "TCP-ACT": "active"}
TCPTYPES: Final = ("active", "passive", "so")
CANDIDATE_TYPES: Final = ("host", "srflx", "prflx", "relay")


@dataclass(frozen=True)
class Candidate:
    """One ICE candidate. ``transport`` keeps the token as written (``UDP``, ``TCP``,
    ``TCP-PASS``, ``TCP-ACT``); ``tcptype`` is RFC 6544's attribute when present."""

    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    typ: str
    raddr: str | None = None
    rport: int | None = None
    tcptype: str | None = None
    extensions: tuple[tuple[str, str], ...] = field(default=())

    @property
    def is_tcp(self) -> bool:
        return self.transport.upper().startswith("TCP")

    @property
    def direction(self) -> str | None:
        """``"active"``, ``"passive"``, ``"so"`` for TCP candidates, None for UDP."""
        ms = MS_TRANSPORTS.get(self.transport.upper())
        if ms is not None:
            return ms
        return self.tcptype if self.is_tcp else None

    @classmethod
    def parse(cls, value: str) -> Candidate:
        """Parse the value of an ``a=candidate:`` attribute (without ``candidate:``)."""
        parts = value.split()
        if len(parts) < 8 or parts[6] != "typ":
            raise ParseError(f"candidate needs 8 fields ending 'typ <type>': {value!r}")
        foundation, comp, transport, prio, address, port = parts[:6]
        typ = parts[7]
        if typ not in CANDIDATE_TYPES:
            raise ParseError(f"unknown candidate type {typ!r}")
        raddr: str | None = None
        rport: int | None = None
        tcptype: str | None = None
        extensions: list[tuple[str, str]] = []
        rest = parts[8:]
        if len(rest) % 2:
            raise ParseError(f"candidate extension without a value: {value!r}")
        for name, val in zip(rest[::2], rest[1::2], strict=True):
            if name == "raddr":
                raddr = val
            elif name == "rport":
                rport = _int(val, "rport", 0, 65535)
            elif name == "tcptype":
                if val not in TCPTYPES:
                    raise ParseError(f"unknown tcptype {val!r}")
                tcptype = val
            else:
                extensions.append((name, val))
        return cls(foundation, _int(comp, "component", 1, 256), transport,
                   _int(prio, "priority", 1, 2**31 - 1), address, _int(port, "port", 0, 65535),
                   typ, raddr, rport, tcptype, tuple(extensions))

    def __str__(self) -> str:
        text = (f"{self.foundation} {self.component} {self.transport} {self.priority} "
                f"{self.address} {self.port} typ {self.typ}")
        if self.raddr is not None:
            text += f" raddr {self.raddr}"
        if self.rport is not None:
            text += f" rport {self.rport}"
        if self.tcptype is not None:
            text += f" tcptype {self.tcptype}"
        for name, val in self.extensions:
            text += f" {name} {val}"
        return text


def _int(text: str, what: str, low: int, high: int) -> int:
    if not is_digits(text):
        raise ParseError(f"candidate {what} is not a number: {text[:40]!r}")
    value = bounded_int(text, high)
    if value is None or value < low:
        raise ParseError(f"candidate {what} {text[:20]} outside {low}..{high}")
    return value
