"""Sans-I/O TURN client core: long-term credentials, Allocate, Refresh, CreatePermission, and the
RFC 6062 client side (Connect, ConnectionAttempt, ConnectionBind).

The core builds requests and digests responses; it never touches a socket or the clock. Each
command returns only its *handle*; every other input (:meth:`TurnClientCore.receive`,
:meth:`TurnClientCore.handle_timer`, :meth:`TurnClientCore.send_indication`) returns None. The
output, the bytes to send and the events that follow (results carry the handle of their command,
even after a 401/438 retry), is drained in order with :meth:`TurnClientCore.actions`; its
vocabulary is :mod:`lab.proto.turn.client_events`. Requests are sent on a *channel* named by
the caller: ``"control"`` for the control connection, anything else for an RFC 6062 data
connection.

Timers (RFC 8656 §7.3 refresh before LIFETIME, §9 permissions last 300 s, RFC 8489 §6.2.2
transaction timeout Ti = 39.5 s) are ``handle_timer(now)`` / ``next_deadline()``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from lab.proto.addr import Addr
from lab.proto.stun import (
    PROTO_TCP,
    Attribute,
    ChannelNumber,
    ConnectionId,
    Data,
    Lifetime,
    Message,
    MessageClass,
    MessageIntegrity,
    Method,
    Nonce,
    Realm,
    RequestedTransport,
    Software,
    Username,
    XorMappedAddress,
    XorPeerAddress,
    XorRelayedAddress,
    long_term_key,
    parse,
    verify_integrity,
)
from lab.proto.turn.client_events import (
    CONTROL,
    Action,
    Allocated,
    Bound,
    ChannelBound,
    ConnectionAttempt,
    DataReceived,
    Event,
    Failed,
    PeerConnected,
    PermissionCreated,
    Refreshed,
    SendToServer,
)

log = logging.getLogger(__name__)

PERMISSION_LIFETIME = 300.0
PERMISSION_REFRESH = 240.0
TRANSACTION_TIMEOUT = 39.5


@dataclass
class _Pending:
    handle: int
    method: Method
    attributes: tuple[Attribute, ...]
    channel: str
    deadline: float
    authenticated: bool
    retries: int = 0


@dataclass
class _Allocation:
    relayed: Addr
    mapped: Addr | None
    lifetime: int
    refresh_at: float
    permissions: dict[str, float] = field(default_factory=dict)  # host -> refresh time


class TurnClientCore:
    """The client side of one TURN allocation (RFC 8656 §7-§10, RFC 6062 §4)."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        realm: str | None = None,
        software: str | None = "uclab",
        fingerprint: bool = True,
        transaction_timeout: float = TRANSACTION_TIMEOUT,
        refresh_margin: float = 60.0,
    ) -> None:
        self.username = username
        self.password = password
        self.expected_realm = realm
        self.software = software
        self.fingerprint = fingerprint
        self.transaction_timeout = transaction_timeout
        self.refresh_margin = refresh_margin
        self.realm: str | None = None
        self.nonce: bytes | None = None
        self.key: bytes | None = None
        self.allocation: _Allocation | None = None
        self._pending: dict[bytes, _Pending] = {}
        self._handles = itertools.count(1)
        self._out: list[Action] = []

    def actions(self) -> list[Action]:
        """The sends and events produced since the last call, in order."""
        out, self._out = self._out, []
        return out

    # --- commands -------------------------------------------------------------------------

    def allocate(
        self, now: float, *, transport: int = PROTO_TCP, lifetime: int | None = None
    ) -> int:
        """Allocate (RFC 8656 §7.1); the first one goes without credentials and meets 401."""
        attrs: list[Attribute] = [RequestedTransport(transport)]
        if lifetime is not None:
            attrs.append(Lifetime(lifetime))
        return self._start(Method.ALLOCATE, attrs, CONTROL, now)

    def refresh(self, now: float, lifetime: int | None = None) -> int:
        """Refresh (RFC 8656 §7.2); ``lifetime=0`` deletes the allocation."""
        attrs = [Lifetime(lifetime)] if lifetime is not None else []
        return self._start(Method.REFRESH, attrs, CONTROL, now)

    def create_permission(self, now: float, hosts: Iterable[str]) -> int:
        """CreatePermission for one or more peer IPs (RFC 8656 §9); ports are ignored."""
        attrs = [XorPeerAddress(h, 0) for h in hosts]
        if not attrs:
            raise ValueError("create_permission needs at least one host")
        return self._start(Method.CREATE_PERMISSION, attrs, CONTROL, now)

    def connect(self, now: float, peer: Addr) -> int:
        """Connect to a TCP peer from the relayed address (RFC 6062 §4.3)."""
        return self._start(Method.CONNECT, [XorPeerAddress(*peer)], CONTROL, now)

    def connection_bind(self, now: float, connection_id: int, channel: str) -> int:
        """ConnectionBind, to be sent on a *new* connection named ``channel`` (RFC 6062 §4.3)."""
        if channel == CONTROL:
            raise ValueError("ConnectionBind goes on a new data connection, not the control one")
        return self._start(Method.CONNECTION_BIND, [ConnectionId(connection_id)], channel, now)

    def channel_bind(self, now: float, number: int, peer: Addr) -> int:
        """ChannelBind ``number`` (0x4000-0x4FFF) to ``peer`` on a UDP allocation (RFC 8656
        §11.1); ChannelData for it: :func:`lab.proto.stun.channel_data`."""
        return self._start(Method.CHANNEL_BIND, [ChannelNumber(number), XorPeerAddress(*peer)],
                           CONTROL, now)

    def send_indication(self, peer: Addr, data: bytes) -> None:
        """A Send indication for a UDP allocation (RFC 8656 §10.1)."""
        msg = Message.indication(Method.SEND, [XorPeerAddress(*peer), Data(data)])
        self._out.append(SendToServer(CONTROL, msg.encode(fingerprint=self.fingerprint), msg))

    # --- requests -------------------------------------------------------------------------

    def _start(
        self, method: Method, attrs: Iterable[Attribute], channel: str, now: float
    ) -> int:
        handle = next(self._handles)
        self._out.append(self._send(handle, method, tuple(attrs), channel, now=now, retries=0))
        return handle

    def _send(
        self, handle: int, method: Method, attrs: tuple[Attribute, ...], channel: str, *,
        now: float, retries: int,
    ) -> SendToServer:
        full = list(attrs)
        if self.software:
            full.append(Software(self.software))
        authed = False
        if self.key is not None and self.realm is not None and self.nonce is not None:
            full += [Username(self.username), Realm(self.realm), Nonce(self.nonce)]
            authed = True
        msg = Message.request(method, full)
        raw = msg.encode(integrity_key=self.key if authed else None, fingerprint=self.fingerprint)
        self._pending[msg.transaction_id] = _Pending(
            handle, method, attrs, channel, now + self.transaction_timeout, authed, retries
        )
        return SendToServer(channel, raw, msg)

    # --- input ----------------------------------------------------------------------------

    def receive(self, raw: bytes, now: float) -> None:
        """Digest one received STUN message (a whole frame). Raises ParseError on garbage."""
        self._out += self._receive(parse(raw), raw, now)

    def _receive(self, msg: Message, raw: bytes, now: float) -> list[Action]:
        if msg.cls is MessageClass.INDICATION:
            return self._indication(msg)
        if msg.cls is MessageClass.REQUEST:
            log.warning("TURN client: ignoring a %s from the server", msg.describe())
            return []
        pending = self._pending.pop(msg.transaction_id, None)
        if pending is None:
            log.info("TURN client: response to no pending request: %s", msg.describe())
            return []
        if msg.cls is MessageClass.ERROR:
            return self._error(pending, msg, now)
        problem = self._check_integrity(pending, msg, raw)
        if problem:
            return [Failed(pending.handle, pending.method, 0, problem)]
        nonce = msg.get(Nonce)
        if nonce is not None:
            self.nonce = nonce.value
        return self._success(pending, msg, now)

    def _check_integrity(self, pending: _Pending, msg: Message, raw: bytes) -> str:
        """RFC 8489 §9.2.5: a response to an authenticated request must verify."""
        if not pending.authenticated or self.key is None:
            return ""
        if msg.get(MessageIntegrity) is None:
            return "response lacks MESSAGE-INTEGRITY"
        if not verify_integrity(raw, self.key):
            return "response failed the MESSAGE-INTEGRITY check"
        return ""

    def _error(self, pending: _Pending, msg: Message, now: float) -> list[Action]:
        err = msg.error
        code, reason = (err.code, err.reason) if err is not None else (0, "error without code")
        realm, nonce = msg.get(Realm), msg.get(Nonce)
        can_retry = pending.retries < 2 and nonce is not None
        if code == 401 and not pending.authenticated and can_retry and realm is not None:
            problem = self._learn_realm(realm.value)
            if problem:
                return [Failed(pending.handle, pending.method, 401, problem)]
        elif not (code == 438 and can_retry):
            return [Failed(pending.handle, pending.method, code, reason)]
        if nonce is None:  # excluded by can_retry; keeps the type checker informed
            return [Failed(pending.handle, pending.method, code, reason)]
        self.nonce = nonce.value
        if realm is not None and self.realm is None:
            self._learn_realm(realm.value)
        log.info("TURN client: %s, retrying %s with credentials", msg.describe(),
                 pending.method.name)
        return [self._send(pending.handle, pending.method, pending.attributes, pending.channel,
                           now=now, retries=pending.retries + 1)]

    def _learn_realm(self, realm: str) -> str:
        if self.expected_realm is not None and realm != self.expected_realm:
            return f"server realm {realm!r} is not the expected {self.expected_realm!r}"
        self.realm = realm
        self.key = long_term_key(self.username, realm, self.password)
        return ""

    def _success(self, pending: _Pending, msg: Message, now: float) -> list[Action]:
        handler = {
            Method.ALLOCATE: self._allocated, Method.REFRESH: self._refreshed,
            Method.CREATE_PERMISSION: self._permitted, Method.CONNECT: self._connected,
            Method.CONNECTION_BIND: self._bound, Method.CHANNEL_BIND: self._channel_bound,
        }.get(pending.method)
        return [handler(pending, msg, now)] if handler is not None else []

    def _allocated(self, pending: _Pending, msg: Message, now: float) -> Event:
        relayed, mapped = msg.get(XorRelayedAddress), msg.get(XorMappedAddress)
        lifetime = msg.get(Lifetime)
        if relayed is None:
            return Failed(pending.handle, pending.method, 0,
                          "Allocate success without XOR-RELAYED-ADDRESS")
        seconds = lifetime.value if lifetime is not None else 600
        mapped_addr = mapped.addr if mapped is not None else None
        self.allocation = _Allocation(relayed.addr, mapped_addr, seconds,
                                      self._refresh_time(now, seconds))
        return Allocated(pending.handle, relayed.addr, mapped_addr, seconds)

    def _refreshed(self, pending: _Pending, msg: Message, now: float) -> Event:
        lifetime = msg.get(Lifetime)
        seconds = lifetime.value if lifetime is not None else 0
        if self.allocation is not None:
            if seconds == 0:
                self.allocation = None
            else:
                self.allocation.lifetime = seconds
                self.allocation.refresh_at = self._refresh_time(now, seconds)
        return Refreshed(pending.handle, seconds)

    def _channel_bound(self, pending: _Pending, msg: Message, now: float) -> Event:
        number = next(a.channel for a in pending.attributes if isinstance(a, ChannelNumber))
        peer = next(a.addr for a in pending.attributes if isinstance(a, XorPeerAddress))
        return ChannelBound(pending.handle, number, peer)

    def _permitted(self, pending: _Pending, msg: Message, now: float) -> Event:
        hosts = tuple(a.host for a in pending.attributes if isinstance(a, XorPeerAddress))
        if self.allocation is not None:
            for host in hosts:
                self.allocation.permissions[host] = now + PERMISSION_REFRESH
        return PermissionCreated(pending.handle, hosts)

    def _connected(self, pending: _Pending, msg: Message, now: float) -> Event:
        cid = msg.get(ConnectionId)
        peer = next(a for a in pending.attributes if isinstance(a, XorPeerAddress))
        if cid is None:
            return Failed(pending.handle, pending.method, 0,
                          "Connect success without CONNECTION-ID")
        return PeerConnected(pending.handle, peer.addr, cid.value)

    def _bound(self, pending: _Pending, msg: Message, now: float) -> Event:
        cid = next(a for a in pending.attributes if isinstance(a, ConnectionId))
        return Bound(pending.handle, cid.value)

    def _refresh_time(self, now: float, lifetime: int) -> float:
        return now + lifetime - min(self.refresh_margin, lifetime / 2)

    def _indication(self, msg: Message) -> list[Action]:
        peer = msg.get(XorPeerAddress)
        if msg.method is Method.CONNECTION_ATTEMPT:
            cid = msg.get(ConnectionId)
            if cid is None or peer is None:
                log.warning("TURN client: ConnectionAttempt lacks CONNECTION-ID or peer")
                return []
            return [ConnectionAttempt(cid.value, peer.addr)]
        if msg.method is Method.DATA:
            data = msg.get(Data)
            if peer is not None and data is not None:
                return [DataReceived(peer.addr, data.value)]
        log.info("TURN client: ignoring %s", msg.describe())
        return []

    # --- timers ---------------------------------------------------------------------------

    def _busy(self, method: Method) -> bool:
        return any(p.method is method for p in self._pending.values())

    def next_deadline(self) -> float | None:
        times = [p.deadline for p in self._pending.values()]
        alloc = self.allocation
        if alloc is not None:
            if not self._busy(Method.REFRESH):
                times.append(alloc.refresh_at)
            if alloc.permissions and not self._busy(Method.CREATE_PERMISSION):
                times.append(min(alloc.permissions.values()))
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Time out transactions, refresh the allocation and permissions that are due."""
        for tid, p in list(self._pending.items()):
            if p.deadline <= now:
                del self._pending[tid]
                self._out.append(Failed(p.handle, p.method, 0,
                                        "no response (transaction timeout)"))
        alloc = self.allocation
        if alloc is None:
            return
        if alloc.refresh_at <= now and not self._busy(Method.REFRESH):
            self.refresh(now, alloc.lifetime)
        due = [h for h, t in alloc.permissions.items() if t <= now]
        if due and not self._busy(Method.CREATE_PERMISSION):
            self.create_permission(now, due)

