"""Sans-I/O TURN server core over TCP: long-term credentials, allocations, permissions and all of
RFC 6062 (Connect, peer-initiated connections, ConnectionAttempt, ConnectionBind, bind timer);
for UDP allocations, Send/Data indications and channels (ChannelBind, ChannelData).

The core sees client connections as integers chosen by the adapter and whole STUN messages
(framing is the adapter's, with :class:`~lab.proto.stun.StunStreamFramer`). Every input returns
None (:meth:`TurnServerCore.peer_accepted` returns the handle of what it creates); the
:mod:`~lab.proto.turn.state` actions they produce are drained, in order, with
:meth:`TurnServerCore.actions`. It never touches a socket or the clock: every entry point takes
``now``. Every refusal is answered with the RFC's error code and a reason, and logged.

Relayed bytes after ConnectionBind never come here: :class:`StartBridge` hands both sockets to
the adapter's raw bridge (RFC 6062 §5.5).
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import secrets
from collections.abc import Callable

from lab.proto.addr import Addr
from lab.proto.stun import (
    PROTO_TCP,
    PROTO_UDP,
    ChannelNumber,
    ConnectionId,
    Data,
    Fingerprint,
    Lifetime,
    Message,
    MessageClass,
    Method,
    ParseError,
    RequestedTransport,
    UnknownAttributes,
    XorMappedAddress,
    XorPeerAddress,
    XorRelayedAddress,
    channel_data,
    is_channel_data,
    parse,
    verify_fingerprint,
)
from lab.proto.turn import admission
from lab.proto.turn.auth import Credentials, NonceBook
from lab.proto.turn.config import TurnServerConfig, canonical_ip
from lab.proto.turn.responses import Request, Responder, bound_to, who
from lab.proto.turn.state import (
    Action,
    Allocation,
    ClientConnection,
    CloseConnection,
    ClosePeer,
    CloseRelay,
    ConnectPeer,
    OpenRelay,
    PeerConnection,
    PeerState,
    SendToClient,
    SendToPeer,
    StartBridge,
)

log = logging.getLogger(__name__)

#: At most this many types in UNKNOWN-ATTRIBUTES of a 420 (RFC 8489 §14.9 sets no bound; a
#: request can carry thousands, and the answer's 16-bit length cannot), as coturn bounds it.
UNKNOWN_LISTED = 32


class TurnServerCore(Responder):
    """The protocol side of a TURN server (RFC 8656 §6-§11, RFC 6062 §5)."""

    def __init__(self, config: TurnServerConfig, *, nonce_secret: bytes | None = None) -> None:
        super().__init__(config, Credentials(
            config.realm, config.users, NonceBook(config.nonce_lifetime, nonce_secret)
        ))
        self.connections: dict[int, ClientConnection] = {}
        self.allocations: dict[int, Allocation] = {}
        self.peers: dict[int, PeerConnection] = {}
        self._by_relay: dict[Addr, int] = {}
        self._alloc_ids = itertools.count(1)
        self._handlers: dict[Method, Callable[[Request, float], list[Action]]] = {
            Method.ALLOCATE: self._allocate, Method.REFRESH: self._refresh,
            Method.CREATE_PERMISSION: self._create_permission, Method.CONNECT: self._connect,
            Method.CONNECTION_BIND: self._connection_bind, Method.CHANNEL_BIND: self._channel_bind,
        }
        self._out: list[Action] = []

    # --- the adapter's side: inputs return None, :meth:`actions` takes the output --------

    def actions(self) -> list[Action]:
        """The actions produced since the last call, in order; the adapter carries them out
        and reports their results back (:meth:`relay_result`, :meth:`peer_connect_result`)."""
        out, self._out = self._out, []
        return out

    def connection_lost(self, conn: int, now: float) -> None:
        """A client connection ended."""
        self._out += self._connection_lost(conn, now)

    def message_received(self, conn: int, raw: bytes, now: float) -> None:
        """One whole STUN message (or ChannelData frame) from client connection ``conn``."""
        self._out += self._message_received(conn, raw, now)

    def relay_result(self, alloc_key: int, ok: bool, now: float) -> None:
        """The adapter bound (or could not bind) the relayed address of an allocation."""
        self._out += self._relay_result(alloc_key, ok, now)

    def datagram_received(self, alloc_key: int, peer: Addr, data: bytes, now: float) -> None:
        """A datagram from ``peer`` on the UDP relayed address of ``alloc_key``."""
        self._out += self._datagram_received(alloc_key, peer, data, now)

    def peer_connect_result(self, cid: int, ok: bool, now: float, reason: str = "") -> None:
        """The adapter's connection to the peer of a Connect succeeded or failed."""
        self._out += self._peer_connect_result(cid, ok, now, reason)

    def peer_accepted(self, relayed: Addr, peer: Addr, now: float) -> int | None:
        """A peer connected to a relayed address: its new CONNECTION-ID (the handle the
        adapter names that connection by), or None: close the peer's connection."""
        cid, out = self._peer_accepted(relayed, peer, now)
        self._out += out
        return cid

    def peer_closed(self, cid: int, now: float) -> None:
        """Peer connection ``cid`` ended (before the bind, or its bridge ended)."""
        self._out += self._peer_closed(cid, now)

    def handle_timer(self, now: float) -> None:
        """Run the timers that are due (see :meth:`next_deadline`)."""
        self._out += self._handle_timer(now)

    # --- client connections ---------------------------------------------------------------

    def connection_made(self, conn: int, client: Addr, server: Addr, now: float) -> None:
        """A client connected; unless it allocates or binds within ``idle_timeout`` it is
        closed (like coturn's max-allocate-timeout)."""
        self.connections[conn] = ClientConnection(conn, client, server,
                                                  now + self.config.idle_timeout)

    def _connection_lost(self, conn: int, now: float) -> list[Action]:
        """A client connection ended. A control connection takes its allocation with it (an
        allocation is identified by its connection's 5-tuple, RFC 8656 §5); a data connection
        takes its peer connection (RFC 6062 §5.5)."""
        c = self.connections.pop(conn, None)
        if c is None:
            return []
        if c.alloc is not None and c.alloc in self.allocations:
            return self._delete(self.allocations[c.alloc], "control connection closed")
        if c.data_for is not None:
            return self._drop_peer(c.data_for, "client data connection closed")
        return []

    def _allocation_of(self, c: ClientConnection) -> Allocation | None:
        return self.allocations.get(c.alloc) if c.alloc is not None else None

    def channels_possible(self, conn: int) -> bool:
        """Whether ChannelData may come on client connection ``conn``: it holds a UDP
        allocation (anything else starting with bits 01 is garbage, RFC 8656 §12)."""
        c = self.connections.get(conn)
        alloc = self._allocation_of(c) if c is not None else None
        return alloc is not None and alloc.transport == PROTO_UDP

    def _message_received(self, conn: int, raw: bytes, now: float) -> list[Action]:
        """One whole STUN message from client connection ``conn`` (RFC 8489 §6.3)."""
        c = self.connections.get(conn)
        if c is None or c.data_for is not None:
            return []
        if is_channel_data(raw):
            return self._channel_data(c, raw, now)
        msg = self._parse(c, raw)
        if not isinstance(msg, Message):
            return msg
        if msg.cls is MessageClass.INDICATION:
            return self._indication(c, msg, now)
        if msg.cls is not MessageClass.REQUEST:
            log.info("TURN %s: ignoring %s", who(c), msg.describe())
            return []
        return self._request(Request(c, msg, msg.has(Fingerprint)), raw, now)

    def _parse(self, c: ClientConnection, raw: bytes) -> Message | list[Action]:
        """The message, or what to do with one that does not parse (400) or carries a wrong
        FINGERPRINT (dropped, RFC 8489 §7.3: not a STUN message for this server)."""
        try:
            msg = parse(raw)
        except ParseError as exc:
            return self._malformed(c, raw, exc)
        if msg.has(Fingerprint) and not verify_fingerprint(raw):
            log.warning("TURN %s: %s with a wrong FINGERPRINT dropped (RFC 8489 §7.3)", who(c),
                        msg.describe())
            return self._spend(c)
        return msg

    def _request(self, req: Request, raw: bytes, now: float) -> list[Action]:
        """Binding needs no credentials; every TURN method does (RFC 8656 §6.2), then the
        unknown comprehension-required attributes are refused with 420 (RFC 8489 §6.3.1)."""
        msg = req.msg
        if msg.method is Method.BINDING:
            return [self._success(req, [XorMappedAddress(*req.conn.client)])]
        handler = self._handlers.get(msg.method)
        if handler is None:
            return self._refuse(req, 400, f"unknown method {int(msg.method):#05x}", now)
        auth = self.credentials.check(msg, raw, now, self._nonce_bindings(req))
        if not auth.ok:
            return self._refuse(req, auth.code, auth.reason, now, challenge=auth.challenge)
        req.key, req.username = auth.key, auth.username
        unknown = msg.unknown_comprehension_required()[:UNKNOWN_LISTED]
        if unknown:
            names = ", ".join(f"{t:#06x}" for t in unknown[:8]) + (", ..." * (len(unknown) > 8))
            return self._refuse(req, 420, f"Unknown Attribute {names}", now,
                                extra=[UnknownAttributes(unknown)])
        return handler(req, now)

    def _nonce_bindings(self, req: Request) -> list[bytes]:
        """The connections whose nonces this request may carry: its own, and for a
        ConnectionBind the control connection of that CONNECTION-ID's allocation (RFC 6062
        §5.4: the data connection reuses the control connection's credentials)."""
        out = [bound_to(req.conn)]
        cid = req.msg.get(ConnectionId)
        pc = self.peers.get(cid.value) if cid is not None else None
        alloc = self.allocations.get(pc.alloc) if pc is not None else None
        control = self.connections.get(alloc.conn) if alloc is not None else None
        if req.msg.method is Method.CONNECTION_BIND and control is not None:
            out.append(bound_to(control))
        return out

    def relay_ip_for(self, c: ClientConnection) -> str:
        """The relayed address's IP: ``relay_ip``, or when that is unspecified (``0.0.0.0``,
        ``::``), the server's address on the client's connection, never ``::`` itself."""
        if ipaddress.ip_address(self.config.relay_ip).is_unspecified:
            return canonical_ip(c.server[0])
        return self.config.relay_ip

    # --- RFC 8656 methods -----------------------------------------------------------------

    def _allocate(self, req: Request, now: float) -> list[Action]:
        """Allocate, RFC 8656 §7.2 and RFC 6062 §5.1; the retransmission of the request that
        made this 5-tuple's allocation (over UDP its answer may have been lost) gets the same
        answer again, not 437."""
        mine = self._allocation_of(req.conn)
        if (mine is not None and mine.answer is not None and mine.answer.message is not None
                and mine.answer.message.transaction_id == req.msg.transaction_id):
            log.info("TURN %s: Allocate retransmitted: the same answer", who(req.conn))
            return [mine.answer]
        transport = req.msg.get(RequestedTransport)
        relay_ip = self.relay_ip_for(req.conn)
        problem = admission.allocate_problem(
            self.config, req.msg, has_allocation=req.conn.alloc is not None,
            username=req.username, allocations=self.allocations.values(), relay_ip=relay_ip)
        port = self._free_port(relay_ip, set())
        if problem is None and port is None:
            problem = (508, "Insufficient Capacity: no free relay port")
        if problem is not None or transport is None or port is None:
            code, reason = problem or (500, "Server Error")
            return self._refuse(req, code, reason, now)
        if req.username is None or req.key is None:  # authenticated by _request
            return self._refuse(req, 500, "Server Error: unauthenticated Allocate", now)
        lifetime = admission.lifetime(self.config, req.msg)
        alloc = Allocation(
            next(self._alloc_ids), req.conn.conn, req.username, req.key, transport.protocol,
            (relay_ip, port), req.conn.client, now + lifetime, request=req.msg,
            fingerprint=req.fingerprint,
        )
        self.allocations[alloc.key] = alloc
        self._by_relay[alloc.relayed] = alloc.key
        req.conn.alloc, req.conn.idle_deadline = alloc.key, None
        return [OpenRelay(alloc.key, alloc.relayed, alloc.transport)]

    def _free_port(self, relay_ip: str, exclude: set[int]) -> int | None:
        """The first relay port, in configured order, that no allocation uses."""
        for port in self.config.relay_ports:
            if port not in exclude and (relay_ip, port) not in self._by_relay:
                return port
        return None

    def _relay_result(self, alloc_key: int, ok: bool, now: float) -> list[Action]:
        """The answer to the Allocate once the relay is bound, or the next port to try."""
        alloc = self.allocations.get(alloc_key)
        if alloc is None:
            return [CloseRelay(alloc_key)] if ok else []
        req = self._request_for(alloc, alloc.request)
        alloc.request = None
        if req is None:
            return []
        if ok:
            alloc.ready = True
            log.info("TURN %s: allocated %s:%d for %s", who(req.conn), *alloc.relayed,
                     alloc.username)
            alloc.answer = self._success(req, [
                XorRelayedAddress(*alloc.relayed), Lifetime(round(alloc.expires - now)),
                XorMappedAddress(*alloc.mapped),
            ])
            return [alloc.answer]
        alloc.tried_ports.add(alloc.relayed[1])
        del self._by_relay[alloc.relayed]
        port = self._free_port(alloc.relayed[0], alloc.tried_ports)
        if port is None:
            self._forget(alloc)
            return self._refuse(req, 508, "Insufficient Capacity: no relay port could be bound",
                                now)
        log.info("TURN: relay port %d busy, trying %d", alloc.relayed[1], port)
        alloc.relayed = (alloc.relayed[0], port)
        alloc.request = req.msg
        self._by_relay[alloc.relayed] = alloc.key
        return [OpenRelay(alloc.key, alloc.relayed, alloc.transport)]

    def _request_for(self, alloc: Allocation, msg: Message | None) -> Request | None:
        conn = self.connections.get(alloc.conn)
        if conn is None or msg is None:
            return None
        return Request(conn, msg, alloc.fingerprint, alloc.hmac_key, alloc.username)

    def _owned(self, req: Request, now: float) -> Allocation | list[Action]:
        """The allocation of this control connection, or the refusal (437, 441)."""
        alloc = self._allocation_of(req.conn)
        if alloc is None or not alloc.ready:
            return self._refuse(req, 437, "Allocation Mismatch: no allocation here", now)
        if alloc.username != req.username:
            return self._refuse(req, 441, f"Wrong Credentials: allocation of {alloc.username}",
                                now)
        return alloc

    def _refresh(self, req: Request, now: float) -> list[Action]:
        """Refresh, RFC 8656 §7.3; LIFETIME 0 deletes the allocation."""
        alloc = self._owned(req, now)
        if not isinstance(alloc, Allocation):
            return alloc
        asked = req.msg.get(Lifetime)
        if asked is not None and asked.value == 0:
            out = self._delete(alloc, "deleted by Refresh with LIFETIME 0")
            return [self._success(req, [Lifetime(0)]), *out]
        lifetime = admission.lifetime(self.config, req.msg)
        alloc.expires = now + lifetime
        return [self._success(req, [Lifetime(lifetime)])]

    def _create_permission(self, req: Request, now: float) -> list[Action]:
        """CreatePermission, RFC 8656 §9.2: every peer or none; 300 s each."""
        alloc = self._owned(req, now)
        if not isinstance(alloc, Allocation):
            return alloc
        peers = req.msg.get_all(XorPeerAddress)
        if not peers:
            return self._refuse(req, 400, "Bad Request: CreatePermission without a peer", now)
        for peer in peers:
            problem = admission.peer_problem(self.config, alloc, peer)
            if problem:
                return self._refuse(req, *problem, now)
        for peer in peers:
            alloc.permissions[canonical_ip(peer.host)] = now + self.config.permission_lifetime
        return [self._success(req, [])]

    def _channel_bind(self, req: Request, now: float) -> list[Action]:
        """ChannelBind, RFC 8656 §11.2 (checks: :func:`admission.channel_problem`); installs
        or refreshes the peer's permission and the binding (10 minutes)."""
        alloc = self._owned(req, now)
        if not isinstance(alloc, Allocation):
            return alloc
        number, peer = req.msg.get(ChannelNumber), req.msg.get(XorPeerAddress)
        problem = admission.channel_problem(self.config, alloc, number, peer, now)
        if problem or number is None or peer is None:
            return self._refuse(req, *(problem or (400, "Bad Request")), now)
        addr = (canonical_ip(peer.host), peer.port)
        alloc.channels[number.channel] = (addr, now + self.config.channel_lifetime)
        alloc.permissions[addr[0]] = now + self.config.permission_lifetime
        log.info("TURN %s: channel %#06x bound to %s:%d", who(req.conn), number.channel,
                 *peer.addr)
        return [self._success(req, [])]

    def _channel_data(self, c: ClientConnection, frame: bytes, now: float) -> list[Action]:
        """ChannelData from the client (RFC 8656 §12.6): to the bound peer, else dropped."""
        alloc = self._allocation_of(c)
        number, length = int.from_bytes(frame[:2], "big"), int.from_bytes(frame[2:4], "big")
        peer = alloc.channel_peer(number, now) if alloc is not None else None
        if alloc is None or peer is None or len(frame) < 4 + length:
            log.info("TURN %s: ChannelData on unbound channel %#06x dropped", who(c), number)
            return []
        return [SendToPeer(alloc.key, peer, frame[4:4 + length])]

    def _indication(self, c: ClientConnection, msg: Message, now: float) -> list[Action]:
        """Send indication on a UDP allocation (RFC 8656 §10.2); others are ignored."""
        alloc = self._allocation_of(c)
        peer, data = msg.get(XorPeerAddress), msg.get(Data)
        if msg.method is not Method.SEND or alloc is None or alloc.transport != PROTO_UDP:
            log.info("TURN %s: ignoring %s", who(c), msg.describe())
            return []
        to = peer_addr(peer) if peer is not None else None
        if to is None or data is None or not alloc.permitted(to[0], now):
            log.warning("TURN %s: Send indication dropped (no peer, data or permission)", who(c))
            return []
        return [SendToPeer(alloc.key, to, data.value)]

    def _datagram_received(self, alloc_key: int, peer: Addr, data: bytes, now: float
                          ) -> list[Action]:
        """A datagram on a UDP relayed address: a Data indication if permitted (§11.3)."""
        alloc = self.allocations.get(alloc_key)
        peer = (canonical_ip(peer[0]), peer[1])
        if alloc is None or not alloc.permitted(peer[0], now):
            log.info("TURN: datagram from %s:%d dropped (no permission)", *peer)
            return []
        number = alloc.channel_of(peer, now)
        if number is not None:  # ChannelData, padded to 4 bytes on a stream (§12.5)
            return [SendToClient(alloc.conn, channel_data(number, data), None)]
        ind = Message.indication(Method.DATA, [XorPeerAddress(*peer), Data(data)])
        return [SendToClient(alloc.conn, ind.encode(fingerprint=alloc.fingerprint), ind)]

    # --- RFC 6062 -------------------------------------------------------------------------

    def _new_cid(self) -> int:
        while True:
            cid = secrets.randbits(32)
            if cid and cid not in self.peers:
                return cid

    def _peer_limit(self, alloc: Allocation) -> bool:
        limit = self.config.max_peer_connections
        return bool(limit) and len(alloc.connections) >= limit

    def _connection_to(self, alloc: Allocation, peer: Addr) -> PeerConnection | None:
        for cid in alloc.connections:
            pc = self.peers.get(cid)
            if pc is not None and pc.peer == peer:
                return pc
        return None

    def _connect(self, req: Request, now: float) -> list[Action]:
        """Connect, RFC 6062 §5.2: the relay connects to the peer from the relayed address."""
        alloc = self._owned(req, now)
        if not isinstance(alloc, Allocation):
            return alloc
        peer = req.msg.get(XorPeerAddress)
        problem = self._connect_problem(alloc, peer)
        if problem is not None or peer is None:
            return self._refuse(req, *(problem or (400, "Bad Request")), now)
        cid, to = self._new_cid(), peer_addr(peer)
        self.peers[cid] = PeerConnection(cid, alloc.key, to, PeerState.CONNECTING,
                                         now + self.config.connect_timeout, req.msg)
        alloc.connections.add(cid)
        return [ConnectPeer(cid, alloc.relayed, to)]

    def _connect_problem(self, alloc: Allocation, peer: XorPeerAddress | None
                         ) -> tuple[int, str] | None:
        if alloc.transport != PROTO_TCP:
            return 400, "Bad Request: Connect on a UDP allocation"
        if peer is None:
            return 400, "Bad Request: Connect without XOR-PEER-ADDRESS"
        problem = admission.peer_problem(self.config, alloc, peer)
        if problem:
            return problem
        if self._connection_to(alloc, peer_addr(peer)) is not None:
            return 446, "Connection Already Exists to {}:{}".format(*peer_addr(peer))
        if self._peer_limit(alloc):
            return 508, "Insufficient Capacity: connection limit reached"
        return None

    def _peer_connect_result(self, cid: int, ok: bool, now: float, reason: str = ""
                            ) -> list[Action]:
        """The Connect's answer once the peer is connected (success) or not (447), §5.2."""
        pc = self.peers.get(cid)
        if pc is None or pc.state is not PeerState.CONNECTING:
            return [ClosePeer(cid, "connection no longer wanted")] if ok else []
        alloc = self.allocations[pc.alloc]
        req = self._request_for(alloc, pc.connect_request)
        pc.connect_request = None
        if not ok or req is None:
            self._forget_peer(pc)
            out: list[Action] = [ClosePeer(cid, reason or "connect failed")] if ok else []
            if req is None:
                return out
            return out + self._refuse(req, 447, f"Connection Timeout or Failure: {reason}", now)
        pc.state, pc.deadline = PeerState.AWAITING_BIND, now + self.config.bind_timeout
        log.info("TURN: %s:%d connected to peer %s:%d (CONNECTION-ID %d)", *alloc.relayed,
                 *pc.peer, cid)
        return [self._success(req, [ConnectionId(cid)])]

    def _peer_accepted(self, relayed: Addr, peer: Addr, now: float
                      ) -> tuple[int | None, list[Action]]:
        """A peer connected to a relayed address (RFC 6062 §5.3): the new CONNECTION-ID
        (None: refused) and the ConnectionAttempt."""
        alloc = self.allocations.get(self._by_relay.get(relayed, -1))
        peer = (canonical_ip(peer[0]), peer[1])
        where = f"{relayed[0]}:{relayed[1]}"
        refusal = ""
        if alloc is None or not alloc.ready or alloc.transport != PROTO_TCP:
            refusal = "no TCP allocation there"
        elif why := self.config.peer_policy.check(peer[0]):
            refusal = why
        elif not alloc.permitted(peer[0], now):
            refusal = "no permission for that peer (RFC 6062 §5.3)"
        elif self._connection_to(alloc, peer) is not None:
            refusal = "a connection from that peer address already exists"
        elif self._peer_limit(alloc):
            refusal = "connection limit reached"
        if refusal or alloc is None:
            log.warning("TURN: peer %s:%d refused on %s: %s", *peer, where, refusal)
            return None, []
        cid = self._new_cid()
        self.peers[cid] = PeerConnection(cid, alloc.key, peer, PeerState.AWAITING_BIND,
                                         now + self.config.bind_timeout)
        alloc.connections.add(cid)
        ind = Message.indication(Method.CONNECTION_ATTEMPT, [
            ConnectionId(cid), XorPeerAddress(*peer),
        ])
        log.info("TURN: peer %s:%d connected to %s (CONNECTION-ID %d)", *peer, where, cid)
        return cid, [SendToClient(alloc.conn, ind.encode(fingerprint=alloc.fingerprint), ind)]

    def _connection_bind(self, req: Request, now: float) -> list[Action]:
        """ConnectionBind on a new connection, RFC 6062 §5.4."""
        if req.conn.alloc is not None:
            return self._refuse(req, 400, "Bad Request: ConnectionBind on a control connection",
                                now)
        cid_attr = req.msg.get(ConnectionId)
        if cid_attr is None:
            return self._refuse(req, 400, "Bad Request: ConnectionBind without CONNECTION-ID",
                                now)
        pc = self.peers.get(cid_attr.value)
        if pc is None or pc.state is not PeerState.AWAITING_BIND:
            return self._refuse(req, 400, f"Bad Request: unknown CONNECTION-ID {cid_attr.value}",
                                now)
        alloc = self.allocations[pc.alloc]
        if alloc.username != req.username:
            return self._refuse(req, 441, f"Wrong Credentials: allocation of {alloc.username}",
                                now)
        pc.state, pc.deadline, pc.client_conn = PeerState.BOUND, None, req.conn.conn
        req.conn.data_for, req.conn.idle_deadline = pc.cid, None
        log.info("TURN %s: bound CONNECTION-ID %d (peer %s:%d)", who(req.conn), pc.cid, *pc.peer)
        return [self._success(req, []), StartBridge(req.conn.conn, pc.cid)]

    def _peer_closed(self, cid: int, now: float) -> list[Action]:
        return self._drop_peer(cid, "peer connection closed")

    # --- deletion -------------------------------------------------------------------------

    def _forget_peer(self, pc: PeerConnection) -> None:
        self.peers.pop(pc.cid, None)
        alloc = self.allocations.get(pc.alloc)
        if alloc is not None:
            alloc.connections.discard(pc.cid)

    def _drop_peer(self, cid: int, why: str) -> list[Action]:
        pc = self.peers.get(cid)
        if pc is None:
            return []
        self._forget_peer(pc)
        out: list[Action] = [ClosePeer(cid, why)]
        if pc.client_conn is not None:
            out.append(CloseConnection(pc.client_conn, why))
        return out

    def _forget(self, alloc: Allocation) -> None:
        self.allocations.pop(alloc.key, None)
        if self._by_relay.get(alloc.relayed) == alloc.key:
            del self._by_relay[alloc.relayed]
        conn = self.connections.get(alloc.conn)
        if conn is not None and conn.alloc == alloc.key:
            conn.alloc = None

    def _delete(self, alloc: Allocation, why: str) -> list[Action]:
        """Delete an allocation and every connection it has (RFC 6062 §5.5)."""
        log.info("TURN: allocation %s:%d of %s deleted: %s", *alloc.relayed, alloc.username, why)
        out: list[Action] = []
        for cid in list(alloc.connections):
            out += self._drop_peer(cid, f"allocation deleted ({why})")
        self._forget(alloc)
        out.append(CloseRelay(alloc.key))
        return out

    # --- timers ---------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        times = [a.expires for a in self.allocations.values()]
        times += [c.idle_deadline for c in self.connections.values() if c.idle_deadline]
        times += [p.deadline for p in self.peers.values() if p.deadline is not None]
        return min(times) if times else None

    def _handle_timer(self, now: float) -> list[Action]:
        """Connect timeouts (447), the 30 s bind timer (RFC 6062 §5.3), allocation expiry."""
        out: list[Action] = []
        for c in self.connections.values():
            if c.idle_deadline is not None and c.idle_deadline <= now:
                c.idle_deadline = None
                if c.alloc is None and c.data_for is None:
                    log.warning("TURN %s: no allocation or bind within %g s: closing", who(c),
                                self.config.idle_timeout)
                    out.append(CloseConnection(c.conn, "idle"))
        for pc in list(self.peers.values()):
            if pc.deadline is None or pc.deadline > now:
                continue
            if pc.state is PeerState.CONNECTING:
                out += self._peer_connect_result(pc.cid, False, now, "timed out")
                out.append(ClosePeer(pc.cid, "connect timed out"))
            else:
                log.warning("TURN: no ConnectionBind for CONNECTION-ID %d (peer %s:%d) within "
                            "%g s: closing the peer connection", pc.cid, *pc.peer,
                            self.config.bind_timeout)
                out += self._drop_peer(pc.cid, "no ConnectionBind in time")
        for alloc in list(self.allocations.values()):
            if alloc.expires <= now:
                out += self._delete(alloc, "lifetime expired")
            else:
                for host in [h for h, t in alloc.permissions.items() if t <= now]:
                    del alloc.permissions[host]
        return out


def peer_addr(peer: XorPeerAddress) -> Addr:
    """The transport address the relay uses for an XOR-PEER-ADDRESS: an IPv4 address written
    as IPv6 is the IPv4 address (RFC 4291 §2.5.5), for every check and every socket."""
    return canonical_ip(peer.host), peer.port
