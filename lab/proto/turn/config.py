"""TURN server configuration and peer address policy (RFC 8656 §21.1, coturn's
``--denied-peer-ip`` / ``--allowed-peer-ip`` / ``--allow-loopback-peers``).

The policy follows coturn's order: loopback, multicast, unspecified and "this network"
(0.0.0.0/8) peers are refused first (loopback unless allowed); then a peer inside an *allowed*
range is accepted; then a peer inside a *denied* range is refused; anything else is accepted.
An IPv4 address written as IPv6 (``::ffff:a.b.c.d``, RFC 4291 §2.5.5.2, or the deprecated
``::a.b.c.d``) is the IPv4 address for every check: :func:`canonical_ip` comes first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lab.proto.addr import Addr

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # RFC 6890 §2.2.2: never a destination


def canonical_ip(host: str) -> str:
    """``host`` with an IPv4 address written as IPv6 (mapped ``::ffff:a.b.c.d`` or compatible
    ``::a.b.c.d``) given as IPv4; other addresses unchanged; ValueError if not an address."""
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if 1 < int(ip) < 2**32:  # ::/96 except :: and ::1
            return str(ipaddress.IPv4Address(int(ip)))
    return str(ip)


#: How long a TURN client waits for an answer or a connection before it gives up (the Meeting
#: Server then goes on without a relay candidate); [LAB], scaled by a scenario's time_scale.
CLIENT_TIMEOUT = 10.0


@dataclass(frozen=True)
class IPRange:
    """An inclusive address range: ``10.0.0.1``, ``10.0.0.0-10.0.0.255`` or ``10.0.0.0/8``."""

    first: IPAddress
    last: IPAddress

    @classmethod
    def parse(cls, text: str) -> IPRange:
        """Parse a range; ``ValueError`` names the text and the accepted forms."""
        try:
            if "/" in text:
                net = ipaddress.ip_network(text.strip(), strict=False)
                return cls(net[0], net[-1])
            lo, _, hi = text.partition("-")
            first = ipaddress.ip_address(lo.strip())
            last = ipaddress.ip_address(hi.strip()) if hi else first
        except ValueError:
            raise ValueError(
                f"bad address range {text!r}: use IP, IP-IP or IP/PREFIX"
            ) from None
        if first.version != last.version or int(first) > int(last):
            raise ValueError(f"bad address range {text!r}: ends differ in family or are reversed")
        return cls(first, last)

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return ip.version == self.first.version and int(self.first) <= int(ip) <= int(self.last)

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True)
class PeerPolicy:
    """Which peer addresses the relay may talk to (coturn semantics, RFC 8656 §21.1)."""

    allowed: tuple[IPRange, ...] = ()
    denied: tuple[IPRange, ...] = ()
    allow_loopback: bool = False

    @classmethod
    def from_text(cls, allowed: Iterable[str] = (), denied: Iterable[str] = (),
                  allow_loopback: bool = False) -> PeerPolicy:
        return cls(tuple(IPRange.parse(a) for a in allowed),
                   tuple(IPRange.parse(d) for d in denied), allow_loopback)

    def check(self, host: str) -> str:
        """Empty string if ``host`` may be a peer, otherwise the reason it may not."""
        try:
            ip = ipaddress.ip_address(canonical_ip(host))
        except ValueError:
            return f"{host[:60]!r} is not an IP address"
        if ip.is_loopback and not self.allow_loopback:
            return f"loopback peer {ip} refused (loopback peers are not allowed)"
        if (ip.is_multicast or ip.is_unspecified or ip in THIS_NETWORK
                or ip == ipaddress.IPv4Address("255.255.255.255")):
            return f"peer {ip} is multicast, broadcast, unspecified or in 0.0.0.0/8"
        for r in self.allowed:
            if ip in r:
                return ""
        for r in self.denied:
            if ip in r:
                return f"peer {ip} is in the denied range {r}"
        return ""


@dataclass(frozen=True)
class TurnServerConfig:
    """Everything a TURN server needs to know (see ``uclab turn-server --help``).

    ``relay_ports`` is the ordered list of relay ports: the first free one is used, so the
    seed's 24000 comes first from 24000-29999, and the Skype Edge's 53577 before 51577.
    ``refuse_tcp`` answers TCP allocations with 442, as an Expressway before X8.9 would.
    """

    listen: tuple[Addr, ...]
    relay_ip: str
    relay_ports: tuple[int, ...]
    realm: str
    users: Mapping[str, str]
    peer_policy: PeerPolicy = field(default_factory=PeerPolicy)
    listen_udp: tuple[Addr, ...] = ()  # TURN over UDP too (RFC 8656 §3.1), beside TCP
    user_quota: int = 100  # concurrent allocations per user; 0 = unlimited
    total_quota: int = 0  # concurrent allocations in all; 0 = unlimited
    max_peer_connections: int = 0  # RFC 6062 connections per allocation; 0 = unlimited
    max_client_connections: int = 0  # TCP client connections; 0 = what the fd limit allows
    default_lifetime: int = 600
    max_lifetime: int = 3600
    nonce_lifetime: float = 600.0
    permission_lifetime: float = 300.0
    channel_lifetime: float = 600.0  # RFC 8656 §12: a channel binding lasts 10 minutes
    bind_timeout: float = 30.0
    connect_timeout: float = 30.0
    idle_timeout: float = 60.0  # a connection that neither allocates nor binds is closed
    peer_buffer: int = 64 * 1024  # bytes of peer data kept until ConnectionBind
    send_queue: int = 256 * 1024  # bytes queued to a client that does not read: then dropped
    max_refusals: int = 64  # error responses in a row on one connection: then it is closed
    allow_udp: bool = True
    refuse_tcp: bool = False
    software: str | None = "uclab"

    def __post_init__(self) -> None:
        if not self.listen:
            raise ValueError("a TURN server needs at least one listening address")
        if not self.relay_ports:
            raise ValueError("a TURN server needs at least one relay port")
        for port in self.relay_ports:
            if not 1 <= port <= 0xFFFF:
                raise ValueError(f"relay port {port} out of range 1-65535")
        ipaddress.ip_address(self.relay_ip)
        if not self.users:
            raise ValueError("a TURN server needs at least one user (long-term credentials)")
