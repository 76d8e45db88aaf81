"""What a TURN server refuses, and with which code: the checks of an Allocate, of its lifetime
and of a peer address, as pure functions of the configuration and the request (RFC 8656 §7.2,
§9.2, RFC 6062 §5.1). Each returns ``(code, reason)`` or None; the core answers the request with
that error (:meth:`~lab.proto.turn.responses.Responder._refuse`)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from lab.proto.stun import (
    PROTO_TCP,
    PROTO_UDP,
    ChannelNumber,
    DontFragment,
    EvenPort,
    Lifetime,
    Message,
    RequestedAddressFamily,
    RequestedTransport,
    ReservationToken,
    XorPeerAddress,
)
from lab.proto.turn.config import TurnServerConfig, canonical_ip
from lab.proto.turn.state import Allocation

Problem = tuple[int, str]


def family(host: str) -> int:
    """4 or 6, of the address as the relay uses it (an IPv4-mapped IPv6 address is IPv4)."""
    return ipaddress.ip_address(canonical_ip(host)).version


def allocate_problem(cfg: TurnServerConfig, msg: Message, *, has_allocation: bool,
                     username: str | None, allocations: Iterable[Allocation], relay_ip: str
                     ) -> Problem | None:
    """Why an Allocate on a connection (which ``has_allocation`` already or not) by
    ``username`` is refused, given the server's current ``allocations`` and the address it
    would relay from (RFC 8656 §7.2: IPv4 unless REQUESTED-ADDRESS-FAMILY asks for IPv6)."""
    if has_allocation:
        return 437, "Allocation Mismatch: this connection has one"
    transport = msg.get(RequestedTransport)
    problem = transport_problem(cfg, transport.protocol if transport else None, msg)
    if problem:
        return problem
    asked = msg.get(RequestedAddressFamily)
    if (asked is not None and asked.family == 2) != (family(relay_ip) == 6):
        return 440, "Address Family not Supported"
    existing = list(allocations)
    mine = sum(1 for a in existing if a.username == username)
    if cfg.user_quota and mine >= cfg.user_quota:
        return 486, f"Allocation Quota Reached ({cfg.user_quota} per user)"
    if cfg.total_quota and len(existing) >= cfg.total_quota:
        return 486, f"Allocation Quota Reached ({cfg.total_quota} in all)"
    return None


def transport_problem(cfg: TurnServerConfig, protocol: int | None, msg: Message
                      ) -> Problem | None:
    """REQUESTED-TRANSPORT: TCP (RFC 6062 §5.1, unless disabled) or UDP if allowed."""
    if protocol is None:
        return 400, "Bad Request: Allocate without REQUESTED-TRANSPORT"
    if protocol == PROTO_TCP:
        if cfg.refuse_tcp:
            return 442, "Unsupported Transport Protocol: TCP relaying is disabled"
        if msg.has(EvenPort) or msg.has(ReservationToken) or msg.has(DontFragment):
            return 400, "Bad Request: EVEN-PORT/RESERVATION-TOKEN/DONT-FRAGMENT with TCP"
        return None
    if protocol == PROTO_UDP and cfg.allow_udp:
        return None
    return 442, f"Unsupported Transport Protocol {protocol}"


def lifetime(cfg: TurnServerConfig, msg: Message) -> int:
    """RFC 8656 §7.2: the requested LIFETIME, at least the default, at most the maximum."""
    asked = msg.get(Lifetime)
    want = asked.value if asked is not None else cfg.default_lifetime
    return max(cfg.default_lifetime, min(want, cfg.max_lifetime))


def peer_problem(cfg: TurnServerConfig, alloc: Allocation, peer: XorPeerAddress
                 ) -> Problem | None:
    """A peer of ``alloc`` in CreatePermission or Connect: same family (443), allowed by the
    peer policy (403, like coturn's denied/allowed peer ranges)."""
    if family(peer.host) != family(alloc.relayed[0]):
        return 443, f"Peer Address Family Mismatch: {canonical_ip(peer.host)}"
    why = cfg.peer_policy.check(peer.host)
    return (403, f"Forbidden: {why}") if why else None


# RFC 8656 §12 uses 0x4000-0x4FFF; RFC 5766 §11 allowed up to 0x7FFF, which RFC 5766 clients
# (coturn's turnutils_uclient) still use: accepted, as coturn's server does
CHANNEL_MIN, CHANNEL_MAX = 0x4000, 0x7FFF


def channel_problem(cfg: TurnServerConfig, alloc: Allocation, number: ChannelNumber | None,
                    peer: XorPeerAddress | None, now: float) -> Problem | None:
    """ChannelBind, RFC 8656 §11.2: a UDP allocation, a number 0x4000-0x7FFF and a permitted
    peer, neither already bound to another."""
    if alloc.transport != PROTO_UDP:
        return 400, "Bad Request: ChannelBind on a TCP allocation"
    if number is None or peer is None:
        return 400, "Bad Request: ChannelBind needs CHANNEL-NUMBER and XOR-PEER-ADDRESS"
    if not CHANNEL_MIN <= number.channel <= CHANNEL_MAX:
        return 400, f"Bad Request: channel {number.channel:#06x} is outside 0x4000-0x7FFF"
    problem = peer_problem(cfg, alloc, peer)
    if problem:
        return problem
    addr = (canonical_ip(peer.host), peer.port)
    bound_peer = alloc.channel_peer(number.channel, now)
    bound_number = alloc.channel_of(addr, now)
    if bound_peer not in (None, addr) or bound_number not in (None, number.channel):
        return 400, "Bad Request: channel or peer already bound to another"
    return None
