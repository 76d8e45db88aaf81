"""TURN client core against TURN server core over a fake link (no sockets, time as an argument):
the whole RFC 6062 exchange both ways, and every refusal with its exact error code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from lab.proto.stun import (
    PROTO_UDP,
    Attribute,
    ConnectionId,
    ErrorCode,
    Message,
    MessageClass,
    Method,
    Nonce,
    Realm,
    RequestedTransport,
    UnknownAttribute,
    UnknownAttributes,
    Username,
    XorPeerAddress,
    channel_data,
    parse,
    verify_fingerprint,
    verify_integrity,
)
from lab.proto.turn.client import TurnClientCore
from lab.proto.turn.client_events import Action as ClientAction
from lab.proto.turn.client_events import (
    Allocated,
    Bound,
    ChannelBound,
    ConnectionAttempt,
    Failed,
    PeerConnected,
    PermissionCreated,
    Refreshed,
    SendToServer,
)
from lab.proto.turn.config import PeerPolicy, TurnServerConfig
from lab.proto.turn.server import TurnServerCore
from lab.proto.turn.state import (
    Action,
    CloseConnection,
    ClosePeer,
    CloseRelay,
    ConnectPeer,
    OpenRelay,
    SendToClient,
    SendToPeer,
    StartBridge,
)

A = TypeVar("A")
CMS, PEER, RELAY = ("10.48.54.230", 33347), ("192.168.1.252", 53577), "192.168.1.229"


def config(**kw: object) -> TurnServerConfig:
    base: dict[str, object] = dict(
        listen=(("10.48.54.229", 3478),), relay_ip=RELAY, relay_ports=tuple(range(24000, 24010)),
        realm="TANDBERG", users={"cms": "pw", "other": "pw2"},
    )
    base.update(kw)
    return TurnServerConfig(**base)  # type: ignore[arg-type]


@dataclass
class Link:
    """A server core and the client connections to it; answers OpenRelay by itself."""

    server: TurnServerCore
    now: float = 0.0
    busy_ports: set[int] = field(default_factory=set)
    actions: list[Action] = field(default_factory=list)
    conns: int = 0

    def connect(self, client: tuple[str, int] = CMS) -> int:
        self.conns += 1
        self.server.connection_made(self.conns, client, ("10.48.54.229", 3478), self.now)
        return self.conns

    def feed(self, conn: int, raw: bytes, now: float) -> list[Action]:
        """Deliver ``raw`` from ``conn``: what the server hands out for it."""
        self.server.message_received(conn, raw, now)
        return self.server.actions()

    def exchange(self, client: TurnClientCore, conn: int, send: SendToServer
                 ) -> list[ClientAction]:
        """Deliver ``send`` and every retry until the client has an outcome."""
        events: list[ClientAction] = []
        pending = [send]
        while pending:
            self.server.message_received(conn, pending.pop().data, self.now)
            for ev in self.settle(client, conn):
                if isinstance(ev, SendToServer):
                    pending.append(ev)
                else:
                    events.append(ev)
        return events

    def ask(self, client: TurnClientCore, conn: int, handle: int) -> list[ClientAction]:
        """Exchange the request of the command that returned ``handle``."""
        return self.exchange(client, conn, request(client, handle))

    def settle(self, client: TurnClientCore, conn: int, taken: list[Action] | None = None
               ) -> list[ClientAction]:
        """Carry out the server's actions (``taken`` if already drained, else its queue),
        answering OpenRelay, and deliver what goes to ``conn`` to the client: what the client
        hands out then."""
        actions = self.server.actions() if taken is None else list(taken)
        events: list[ClientAction] = []
        while actions:
            a = actions.pop(0)
            self.actions.append(a)
            if isinstance(a, OpenRelay):
                self.server.relay_result(a.alloc, a.addr[1] not in self.busy_ports, self.now)
                actions += self.server.actions()
            elif isinstance(a, SendToClient) and a.conn == conn:
                client.receive(a.data, self.now)
                events += client.actions()
        return events

    def of(self, kind: type[A]) -> list[A]:
        return [a for a in self.actions if isinstance(a, kind)]


def request(client: TurnClientCore, handle: int) -> SendToServer:
    """What the command that returned ``handle`` queued: its request, alone."""
    assert isinstance(handle, int)
    (send,) = client.actions()
    assert isinstance(send, SendToServer)
    return send


def allocated(link: Link, user: str = "cms", pw: str = "pw", **kw: object
              ) -> tuple[TurnClientCore, int, Allocated]:
    client = TurnClientCore(user, pw)
    conn = link.connect()
    events = link.ask(client, conn, client.allocate(link.now, **kw))  # type: ignore[arg-type]
    assert len(events) == 1 and isinstance(events[0], Allocated), events
    return client, conn, events[0]


def error_code(events: list[ClientAction]) -> int:
    assert len(events) == 1 and isinstance(events[0], Failed), events
    return events[0].code


def test_allocate_challenge_then_success_with_first_free_port() -> None:
    link = Link(TurnServerCore(config()))
    client = TurnClientCore("cms", "pw")
    conn = link.connect()
    send = request(client, client.allocate(0.0))
    link.server.message_received(conn, send.data, 0.0)
    first = link.server.actions()
    challenge = parse(first[0].data)  # type: ignore[union-attr]
    assert challenge.error == ErrorCode(401, "Unauthorized")
    assert challenge.get(Realm) == Realm("TANDBERG") and challenge.has(Nonce)
    events = link.settle(client, conn, first)
    assert isinstance(events[0], SendToServer)  # the retry with credentials
    events = link.exchange(client, conn, events[0])
    assert events == [Allocated(1, (RELAY, 24000), CMS, 600)]
    ok = [a for a in link.actions if isinstance(a, SendToClient)][-1]
    assert verify_integrity(ok.data, client.key or b"") and verify_fingerprint(ok.data)
    # a second client gets the next port, deterministically
    assert allocated(link)[2].relayed == (RELAY, 24001)


def test_explicit_port_list_order_and_busy_port() -> None:
    """The Skype Edge relays: 53577 then 51577; a port the OS refuses is skipped."""
    link = Link(TurnServerCore(config(relay_ports=(53577, 51577))))
    assert allocated(link)[2].relayed == (RELAY, 53577)
    assert allocated(link)[2].relayed == (RELAY, 51577)
    link2 = Link(TurnServerCore(config(relay_ports=(53577, 51577))), busy_ports={53577})
    assert allocated(link2)[2].relayed == (RELAY, 51577)
    link3 = Link(TurnServerCore(config(relay_ports=(53577,))), busy_ports={53577})
    client = TurnClientCore("cms", "pw")
    assert error_code(link3.ask(client, link3.connect(), client.allocate(0))) == 508


def test_connect_then_bind_from_new_connection() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, alloc = allocated(link)
    events = link.ask(client, conn, client.connect(1.0, PEER))
    assert events == []
    (cp,) = link.of(ConnectPeer)
    assert cp == ConnectPeer(cp.cid, alloc.relayed, PEER)  # from the relayed address
    link.server.peer_connect_result(cp.cid, True, 1.5)
    events = link.settle(client, conn)
    assert events == [PeerConnected(2, PEER, cp.cid)]
    data_conn = link.connect(("10.48.54.230", 33348))
    events = link.ask(client, data_conn, client.connection_bind(2.0, cp.cid, "data"))
    assert events == [Bound(3, cp.cid)]
    assert link.of(StartBridge) == [StartBridge(data_conn, cp.cid)]
    # a second Connect to the same peer: 446
    assert error_code(link.ask(client, conn, client.connect(3.0, PEER))) == 446
    # the bridge ends: nothing is left of the connection
    link.server.peer_closed(cp.cid, 4.0)
    assert link.server.peers == {}


def test_connect_failure_and_timeout_are_447() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link)
    link.ask(client, conn, client.connect(1.0, PEER))
    cp = link.of(ConnectPeer)[-1]
    link.server.peer_connect_result(cp.cid, False, 2.0, "connection refused")
    assert error_code(link.settle(client, conn)) == 447
    link.now = 3.0
    link.ask(client, conn, client.connect(3.0, ("192.168.1.9", 80)))
    deadline = link.server.next_deadline()
    assert deadline == 33.0  # the connect timer, before the allocation's 600 s
    link.server.handle_timer(deadline)
    assert error_code(link.settle(client, conn)) == 447
    assert link.of(ClosePeer)[-1].reason == "connect timed out"


def test_peer_initiated_needs_permission_then_attempt_and_bind() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, alloc = allocated(link)
    cid = link.server.peer_accepted(alloc.relayed, PEER, 1.0)
    assert (cid, link.server.actions()) == (None, [])  # refused (the adapter closes it)
    events = link.ask(client, conn, client.create_permission(2.0, [PEER[0]]))
    assert events == [PermissionCreated(2, (PEER[0],))]
    cid = link.server.peer_accepted(alloc.relayed, PEER, 3.0)
    assert cid is not None
    events = link.settle(client, conn)
    assert events == [ConnectionAttempt(cid, PEER)]
    # bind with an unknown CONNECTION-ID: 400
    data_conn = link.connect(("10.48.54.230", 33348))
    bad = link.ask(client, data_conn, client.connection_bind(4.0, cid ^ 1, "d"))
    assert error_code(bad) == 400
    data_conn = link.connect(("10.48.54.230", 33349))
    assert link.ask(client, data_conn, client.connection_bind(4.0, cid, "d")) == [
        Bound(4, cid)]


def test_bind_timer_closes_the_peer_connection() -> None:
    """RFC 6062 §5.3: no ConnectionBind within 30 s -> the peer connection is closed."""
    link = Link(TurnServerCore(config()))
    client, conn, alloc = allocated(link)
    link.ask(client, conn, client.create_permission(1.0, [PEER[0]]))
    cid = link.server.peer_accepted(alloc.relayed, PEER, 10.0)
    link.server.actions()  # the ConnectionAttempt, not delivered
    assert link.server.next_deadline() == 40.0
    link.server.handle_timer(39.9)
    assert link.server.actions() == []
    link.server.handle_timer(40.0)
    out = link.server.actions()
    assert out == [ClosePeer(cid, "no ConnectionBind in time")]  # type: ignore[arg-type]
    data_conn = link.connect()
    late = link.ask(client, data_conn, client.connection_bind(41.0, cid or 0, "d"))
    assert error_code(late) == 400


def test_stale_nonce_is_438_and_the_client_retries() -> None:
    link = Link(TurnServerCore(config(nonce_lifetime=100.0)))
    client, conn, _ = allocated(link)
    link.now = 150.0
    events = link.ask(client, conn, client.refresh(150.0, 600))
    assert events == [Refreshed(2, 600)]
    codes = [parse(a.data).error for a in link.of(SendToClient)]
    assert ErrorCode(438, "Stale Nonce (stale)") in codes


@pytest.mark.parametrize(("user", "pw"), [("cms", "wrong"), ("nobody", "pw")])
def test_wrong_credentials_are_401(user: str, pw: str) -> None:
    link = Link(TurnServerCore(config()))
    client = TurnClientCore(user, pw)
    assert error_code(link.ask(client, link.connect(), client.allocate(0))) == 401


@pytest.mark.parametrize(("kw", "peer", "code"), [
    ({"peer_policy": PeerPolicy.from_text(denied=["192.168.1.0-192.168.1.255"])}, PEER[0], 403),
    ({"peer_policy": PeerPolicy.from_text(denied=["192.168.0.0/16"],
                                          allowed=["192.168.1.252"])}, PEER[0], 0),
    ({}, "127.0.0.1", 403),
    ({}, "::1", 443),
])
def test_peer_policy(kw: dict[str, object], peer: str, code: int) -> None:
    link = Link(TurnServerCore(config(**kw)))
    client, conn, _ = allocated(link)
    events = link.ask(client, conn, client.create_permission(1.0, [peer]))
    if code:
        assert error_code(events) == code
    else:
        assert isinstance(events[0], PermissionCreated)


def test_quotas_and_refused_tcp() -> None:
    link = Link(TurnServerCore(config(user_quota=1)))
    allocated(link)
    client = TurnClientCore("cms", "pw")
    assert error_code(link.ask(client, link.connect(), client.allocate(0))) == 486
    other = TurnClientCore("other", "pw2")
    assert isinstance(link.ask(other, link.connect(), other.allocate(0))[0], Allocated)
    link = Link(TurnServerCore(config(total_quota=1)))
    allocated(link)
    assert error_code(link.ask(other, link.connect(), other.allocate(0))) == 486
    link = Link(TurnServerCore(config(refuse_tcp=True)))
    client = TurnClientCore("cms", "pw")
    assert error_code(link.ask(client, link.connect(), client.allocate(0))) == 442
    udp = allocated(Link(TurnServerCore(config(refuse_tcp=True))), transport=PROTO_UDP)[2]
    assert udp.relayed == (RELAY, 24000)


def test_unknown_comprehension_required_attribute_is_420() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link)
    assert client.key and client.realm and client.nonce
    req = Message.request(Method.REFRESH, [UnknownAttribute(0x7ABC, b"??")])
    raw = req.with_attributes(*auth_attrs(client)).encode(integrity_key=client.key)
    link.server.message_received(conn, raw, 1.0)
    (reply,) = link.server.actions()
    msg = parse(reply.data)  # type: ignore[union-attr]
    assert msg.error is not None and msg.error.code == 420
    assert msg.get(UnknownAttributes) == UnknownAttributes((0x7ABC,))
    assert verify_integrity(reply.data, client.key)  # type: ignore[union-attr]


def auth_attrs(client: TurnClientCore) -> list[Attribute]:
    return [Username(client.username), Realm(client.realm or ""), Nonce(client.nonce or b"")]


def test_second_allocate_on_a_connection_is_437_and_refresh_zero_deletes() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link)
    assert error_code(link.ask(client, conn, client.allocate(1.0))) == 437
    assert link.ask(client, conn, client.refresh(2.0, 0)) == [Refreshed(3, 0)]
    assert link.of(CloseRelay) and link.server.allocations == {}
    assert error_code(link.ask(client, conn, client.refresh(3.0, 600))) == 437


def test_control_connection_loss_deletes_everything() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, alloc = allocated(link)
    link.ask(client, conn, client.create_permission(1.0, [PEER[0]]))
    cid = link.server.peer_accepted(alloc.relayed, PEER, 2.0)
    link.server.actions()  # the ConnectionAttempt, not delivered
    data_conn = link.connect()
    link.ask(client, data_conn, client.connection_bind(3.0, cid or 0, "d"))
    link.server.connection_lost(conn, 4.0)
    out = link.server.actions()
    assert ClosePeer(cid or 0, "allocation deleted (control connection closed)") in out
    assert any(isinstance(a, CloseConnection) and a.conn == data_conn for a in out)
    assert isinstance(out[-1], CloseRelay)


def test_allocation_expires_and_client_refreshes_before() -> None:
    link = Link(TurnServerCore(config(default_lifetime=100, max_lifetime=100)))
    client, conn, alloc = allocated(link, lifetime=100)
    assert alloc.lifetime == 100
    assert client.next_deadline() == 50.0  # refresh at half the lifetime (margin 60 s)
    client.handle_timer(50.0)
    (send,) = client.actions()
    assert isinstance(send, SendToServer) and send.message.method is Method.REFRESH
    link.now = 50.0
    (refreshed,) = link.exchange(client, conn, send)
    assert isinstance(refreshed, Refreshed) and refreshed.lifetime == 100
    assert link.server.next_deadline() == 150.0
    link.server.handle_timer(150.0)
    assert link.server.allocations == {}


def test_client_permission_refresh_and_transaction_timeout() -> None:
    client = TurnClientCore("cms", "pw", transaction_timeout=5.0)
    handle = client.allocate(0.0)
    request(client, handle)  # never answered
    assert client.next_deadline() == 5.0
    client.handle_timer(5.0)
    assert client.actions() == [Failed(handle, Method.ALLOCATE, 0,
                                       "no response (transaction timeout)")]


def test_server_answers_malformed_request_with_400_and_binding_without_auth() -> None:
    server = TurnServerCore(config())
    server.connection_made(1, CMS, ("10.48.54.229", 3478), 0.0)
    req = Message.request(Method.ALLOCATE, [RequestedTransport(6)]).encode()
    bad = req[:20] + b"\x00\x19\x00\x02\x06\x00\x00\x00"  # REQUESTED-TRANSPORT of 2 bytes
    bad = bad[:2] + (8).to_bytes(2, "big") + bad[4:]
    server.message_received(1, bad, 0.0)
    (reply,) = server.actions()
    msg = parse(reply.data)  # type: ignore[union-attr]
    assert msg.cls is MessageClass.ERROR and msg.error and msg.error.code == 400
    assert msg.transaction_id == req[8:20]
    binding = Message.request(Method.BINDING)
    server.message_received(1, binding.encode(), 0.0)
    (reply,) = server.actions()
    assert parse(reply.data).cls is MessageClass.SUCCESS  # type: ignore[union-attr]


def test_connect_and_bind_need_the_allocation_owner() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link)
    link.ask(client, conn, client.connect(1.0, PEER))
    cp = link.of(ConnectPeer)[-1]
    link.server.peer_connect_result(cp.cid, True, 1.0)
    link.settle(client, conn)
    intruder = TurnClientCore("other", "pw2")
    other_conn = link.connect()
    link.ask(intruder, other_conn, intruder.allocate(2.0))
    data_conn = link.connect()
    bind = request(intruder, intruder.connection_bind(3.0, cp.cid, "d"))
    assert error_code(link.exchange(intruder, data_conn, bind)) == 441
    assert XorPeerAddress(*PEER).addr == PEER
    assert ConnectionId(cp.cid).value == cp.cid


def test_peer_connection_limit_is_508() -> None:
    link = Link(TurnServerCore(config(max_peer_connections=1)))
    client, conn, alloc = allocated(link)
    link.ask(client, conn, client.connect(1.0, PEER))
    assert error_code(link.ask(client, conn, client.connect(1.0, ("192.168.1.9", 1)))
                      ) == 508
    link.ask(client, conn, client.create_permission(2.0, ["192.168.1.9"]))
    assert link.server.peer_accepted(alloc.relayed, ("192.168.1.9", 5), 3.0) is None
    assert link.server.actions() == []


def test_idle_connection_is_closed_but_not_one_that_allocated() -> None:
    link = Link(TurnServerCore(config(idle_timeout=60.0)))
    idle = link.connect()  # never sends anything
    allocated(link)  # allocates at t=0 on its own connection
    assert link.server.next_deadline() == 60.0
    link.server.handle_timer(60.0)
    out = link.server.actions()
    assert [a for a in out if isinstance(a, CloseConnection)] == [CloseConnection(idle, "idle")]
    link.server.handle_timer(61.0)
    assert link.server.actions() == []


def test_channel_bind_then_channel_data_both_ways_on_a_udp_allocation() -> None:
    """RFC 8656 §11-§12: a channel for one peer; ChannelData from the client goes to it as a
    datagram, its datagrams come back as ChannelData padded to 4 bytes (a stream); another
    permitted peer still gets Data indications; the binding ends after 10 minutes."""
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link, transport=PROTO_UDP)
    alloc = link.of(OpenRelay)[0].alloc
    peer, other = ("192.168.1.252", 40000), ("192.168.1.252", 40002)
    assert link.ask(client, conn, client.channel_bind(1.0, 0x4001, peer)) == [
        ChannelBound(2, 0x4001, peer)]
    link.server.message_received(conn, channel_data(0x4001, b"abc"), 2.0)
    assert link.server.actions() == [SendToPeer(alloc, peer, b"abc")]
    link.server.datagram_received(alloc, peer, b"hello", 3.0)
    (back,) = link.server.actions()
    assert isinstance(back, SendToClient) and back.message is None
    assert back.data == bytes.fromhex("40010005") + b"hello\0\0\0"
    link.server.datagram_received(alloc, other, b"x", 3.0)  # permission by host
    (ind,) = link.server.actions()
    assert isinstance(ind, SendToClient) and parse(ind.data).method is Method.DATA
    # the same channel again refreshes it; unbound channels carry nothing
    assert isinstance(link.ask(client, conn, client.channel_bind(
        4.0, 0x4001, peer))[0], ChannelBound)
    link.server.message_received(conn, channel_data(0x4002, b"abc"), 5.0)
    assert link.server.actions() == []
    late = 4.0 + 600.0 + 1
    link.server.message_received(conn, channel_data(0x4001, b"abc"), late)
    assert link.server.actions() == []


def test_channel_bind_refusals() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link, transport=PROTO_UDP)
    peer = ("192.168.1.252", 40000)
    assert isinstance(link.ask(client, conn, client.channel_bind(
        1.0, 0x4001, peer))[0], ChannelBound)
    for number, to in ((0x4001, ("192.168.1.252", 40002)),  # the number is taken
                       (0x4002, peer),                      # the peer has a number
                       (0x3FFF, ("192.168.1.252", 40004)),  # below the range
                       (0x8000, ("192.168.1.252", 40004))):  # above RFC 5766's range
        assert error_code(link.ask(client, conn, client.channel_bind(
            2.0, number, to))) == 400, hex(number)
    # RFC 5766's upper range is accepted, as coturn does (its clients use it)
    assert isinstance(link.ask(client, conn, client.channel_bind(
        2.0, 0x7FFF, ("192.168.1.252", 40006)))[0], ChannelBound)
    tcp = Link(TurnServerCore(config()))
    tclient, tconn, _ = allocated(tcp)
    assert error_code(tcp.ask(tclient, tconn, tclient.channel_bind(
        1.0, 0x4001, peer))) == 400


def test_a_retransmitted_allocate_gets_the_same_answer_not_437() -> None:
    """RFC 8656 §7.2: over UDP the success may be lost and the client sends the same request
    (same transaction ID) again; it gets the same answer. Any other Allocate: 437."""
    link = Link(TurnServerCore(config()))
    client = TurnClientCore("cms", "pw")
    conn = link.connect()
    link.server.message_received(
        conn, request(client, client.allocate(0.0, transport=PROTO_UDP)).data, 0.0)
    events = link.settle(client, conn)
    assert isinstance(events[0], SendToServer)
    authed = events[0].data  # the Allocate with credentials
    link.server.message_received(conn, authed, 0.0)
    (opened,) = link.server.actions()
    assert isinstance(opened, OpenRelay)  # the relay is bound, then the answer goes
    link.server.relay_result(opened.alloc, True, 0.0)
    (ok,) = link.server.actions()
    assert isinstance(ok, SendToClient)
    assert parse(ok.data).cls is MessageClass.SUCCESS
    link.server.message_received(conn, authed, 1.0)
    (again,) = link.server.actions()
    assert isinstance(again, SendToClient) and again.data == ok.data
    assert error_code(link.ask(client, conn, client.allocate(2.0))) == 437


def test_inputs_return_nothing_and_actions_drains_the_output_in_order() -> None:
    """The cores' one convention: an input returns None (a command only its handle, an
    accepted peer only its CONNECTION-ID); actions() hands out what was produced since the
    last call, in order, and then nothing until the next input."""
    server = TurnServerCore(config())
    client = TurnClientCore("cms", "pw")
    server.connection_made(1, CMS, ("10.48.54.229", 3478), 0.0)
    handles = [client.allocate(0.0), client.refresh(0.0, 600)]
    assert handles == [1, 2]
    first, second = client.actions()
    assert client.actions() == []
    assert isinstance(first, SendToServer) and first.message.method is Method.ALLOCATE
    assert isinstance(second, SendToServer) and second.message.method is Method.REFRESH
    assert server.message_received(1, first.data, 0.0) is None  # type: ignore[func-returns-value]
    assert server.message_received(1, second.data, 0.0) is None  # type: ignore[func-returns-value]
    challenges = server.actions()
    assert server.actions() == []
    assert [parse(a.data).transaction_id for a in challenges  # type: ignore[union-attr]
            ] == [first.message.transaction_id, second.message.transaction_id]
    assert client.receive(challenges[0].data, 0.0) is None  # type: ignore[func-returns-value,union-attr]
    (retry,) = client.actions()
    assert isinstance(retry, SendToServer) and retry.message.method is Method.ALLOCATE
    server.message_received(1, retry.data, 0.0)
    (opened,) = server.actions()
    assert isinstance(opened, OpenRelay)
    assert server.relay_result(opened.alloc, True, 0.0) is None  # type: ignore[func-returns-value]
    (ok,) = server.actions()
    client.receive(ok.data, 0.0)  # type: ignore[union-attr]
    (done,) = client.actions()
    assert isinstance(done, Allocated) and done.handle == handles[0]
    assert server.handle_timer(1.0) is None  # type: ignore[func-returns-value]
    assert client.handle_timer(1.0) is None  # type: ignore[func-returns-value]
    assert server.actions() == [] and client.actions() == []
