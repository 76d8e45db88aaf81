"""Small value types written as text in topology and scenario files (``10.149.4.10:443``,
``25000-29999``, ``traversal``). Each has ``from_text`` (raising ``ValueError``) and ``__str__``
giving the text back, so :mod:`lab.base.datafile` can read them and the CLI can print them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address


class Port(int):
    """A TCP/UDP port number, 1-65535."""

    WANTED = "a port number (1-65535)"

    def __new__(cls, value: int) -> Port:
        if not 1 <= int(value) <= 65535:
            raise ValueError(f"port {value} is outside 1-65535")
        return super().__new__(cls, value)

    @classmethod
    def from_text(cls, text: str) -> Port:
        if not re.fullmatch(r"[0-9]+", text):
            raise ValueError("not a decimal number")
        return cls(int(text))


@dataclass(frozen=True, order=True)
class HostPort:
    """An IPv4 address and a port: ``10.149.4.10:443``."""

    host: IPv4Address
    port: int

    WANTED = "an address:port such as 10.149.4.10:443"

    def __post_init__(self) -> None:
        Port(self.port)

    @classmethod
    def from_text(cls, text: str) -> HostPort:
        host, sep, port = text.rpartition(":")
        if not sep or not host:
            raise ValueError("the ':port' part is missing")
        return cls(IPv4Address(host), Port.from_text(port))

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pair(self) -> tuple[str, int]:
        """``(host, port)`` as the socket module wants it."""
        return (str(self.host), self.port)


@dataclass(frozen=True, order=True)
class ListenAddress(HostPort):
    """An ``address:port`` that must belong to the node it is written under (a listening or
    source address). The topology loader checks it against the node's interfaces."""

    WANTED = "an address:port of this node such as 10.149.4.10:443"

    @classmethod
    def from_text(cls, text: str) -> ListenAddress:
        hp = HostPort.from_text(text)
        return cls(hp.host, hp.port)


class LocalIP(IPv4Address):
    """An IPv4 address that must belong to the node it is written under (a relay address)."""

    WANTED = "an IPv4 address of this node"

    @classmethod
    def from_text(cls, text: str) -> LocalIP:
        return cls(text)


@dataclass(frozen=True, order=True)
class PortRange:
    """Inclusive port range ``first-last``; a single port is a range of one."""

    first: int
    last: int

    WANTED = "a port or a port range such as 24000-29999"

    def __post_init__(self) -> None:
        Port(self.first)
        Port(self.last)
        if self.last < self.first:
            raise ValueError(f"range {self.first}-{self.last} ends before it starts")

    @classmethod
    def from_text(cls, text: str) -> PortRange:
        first, sep, last = text.partition("-")
        a = Port.from_text(first.strip())
        b = Port.from_text(last.strip()) if sep else a
        return cls(a, b)

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __len__(self) -> int:
        return self.last - self.first + 1

    def ports(self) -> range:
        return range(self.first, self.last + 1)


@dataclass(frozen=True)
class RouteTarget:
    """Where a SIP proxy sends requests for a domain: ``traversal`` (the traversal zone) or a
    next hop ``address:port``."""

    next_hop: HostPort | None

    WANTED = "'traversal' or a next hop address:port"
    TRAVERSAL = "traversal"

    @classmethod
    def from_text(cls, text: str) -> RouteTarget:
        if text == cls.TRAVERSAL:
            return cls(None)
        return cls(HostPort.from_text(text))

    @property
    def traversal(self) -> bool:
        return self.next_hop is None

    def __str__(self) -> str:
        return self.TRAVERSAL if self.next_hop is None else str(self.next_hop)
