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
from lab.proto.turn.client import (
    Allocated,
    Bound,
    ChannelBound,
    ConnectionAttempt,
    Event,
    Failed,
    PeerConnected,
    PermissionCreated,
    Refreshed,
    Send,
    TurnClientCore,
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
    SendDatagram,
    SendTo,
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

    def exchange(self, client: TurnClientCore, conn: int, send: Send) -> list[Event]:
        """Deliver ``send`` and every retry until the client has an outcome."""
        events: list[Event] = []
        pending = [send]
        while pending:
            out = self.server.message_received(conn, pending.pop().data, self.now)
            for ev in self.settle(out, client, conn):
                if isinstance(ev, Send):
                    pending.append(ev)
                else:
                    events.append(ev)
        return events

    def settle(self, actions: list[Action], client: TurnClientCore, conn: int) -> list[Event]:
        events: list[Event] = []
        while actions:
            a = actions.pop(0)
            self.actions.append(a)
            if isinstance(a, OpenRelay):
                actions += self.server.relay_result(a.alloc, a.addr[1] not in self.busy_ports,
                                                    self.now)
            elif isinstance(a, SendTo) and a.conn == conn:
                events += client.receive(a.data, self.now)
        return events

    def of(self, kind: type[A]) -> list[A]:
        return [a for a in self.actions if isinstance(a, kind)]


def allocated(link: Link, user: str = "cms", pw: str = "pw", **kw: object
              ) -> tuple[TurnClientCore, int, Allocated]:
    client = TurnClientCore(user, pw)
    conn = link.connect()
    events = link.exchange(client, conn, client.allocate(link.now, **kw)[1])  # type: ignore[arg-type]
    assert len(events) == 1 and isinstance(events[0], Allocated), events
    return client, conn, events[0]


def error_code(events: list[Event]) -> int:
    assert len(events) == 1 and isinstance(events[0], Failed), events
    return events[0].code


def test_allocate_challenge_then_success_with_first_free_port() -> None:
    link = Link(TurnServerCore(config()))
    client = TurnClientCore("cms", "pw")
    conn = link.connect()
    _, send = client.allocate(0.0)
    first = link.server.message_received(conn, send.data, 0.0)
    challenge = parse(first[0].data)  # type: ignore[union-attr]
    assert challenge.error == ErrorCode(401, "Unauthorized")
    assert challenge.get(Realm) == Realm("TANDBERG") and challenge.has(Nonce)
    events = link.settle(first, client, conn)
    assert isinstance(events[0], Send)  # the retry with credentials
    events = link.exchange(client, conn, events[0])
    assert events == [Allocated(1, (RELAY, 24000), CMS, 600)]
    ok = [a for a in link.actions if isinstance(a, SendTo)][-1]
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
    assert error_code(link3.exchange(client, link3.connect(), client.allocate(0)[1])) == 508


def test_connect_then_bind_from_new_connection() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, alloc = allocated(link)
    events = link.exchange(client, conn, client.connect(1.0, PEER)[1])
    assert events == []
    (cp,) = link.of(ConnectPeer)
    assert cp == ConnectPeer(cp.cid, alloc.relayed, PEER)  # from the relayed address
    events = link.settle(link.server.peer_connect_result(cp.cid, True, 1.5), client, conn)
    assert events == [PeerConnected(2, PEER, cp.cid)]
    data_conn = link.connect(("10.48.54.230", 33348))
    events = link.exchange(client, data_conn, client.connection_bind(2.0, cp.cid, "data")[1])
    assert events == [Bound(3, cp.cid)]
    assert link.of(StartBridge) == [StartBridge(data_conn, cp.cid)]
    # a second Connect to the same peer: 446
    assert error_code(link.exchange(client, conn, client.connect(3.0, PEER)[1])) == 446
    # the bridge ends: nothing is left of the connection
    link.server.peer_closed(cp.cid, 4.0)
    assert link.server.peers == {}


def test_connect_failure_and_timeout_are_447() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link)
    link.exchange(client, conn, client.connect(1.0, PEER)[1])
    cp = link.of(ConnectPeer)[-1]
    out = link.server.peer_connect_result(cp.cid, False, 2.0, "connection refused")
    assert error_code(link.settle(out, client, conn)) == 447
    link.now = 3.0
    link.exchange(client, conn, client.connect(3.0, ("192.168.1.9", 80))[1])
    deadline = link.server.next_deadline()
    assert deadline == 33.0  # the connect timer, before the allocation's 600 s
    out = link.server.handle_timer(deadline)
    assert error_code(link.settle(out, client, conn)) == 447
    assert link.of(ClosePeer)[-1].reason == "connect timed out"


def test_peer_initiated_needs_permission_then_attempt_and_bind() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, alloc = allocated(link)
    cid, out = link.server.peer_accepted(alloc.relayed, PEER, 1.0)
    assert (cid, out) == (None, [])  # no permission: refused (the adapter closes it)
    events = link.exchange(client, conn, client.create_permission(2.0, [PEER[0]])[1])
    assert events == [PermissionCreated(2, (PEER[0],))]
    cid, out = link.server.peer_accepted(alloc.relayed, PEER, 3.0)
    assert cid is not None
    events = link.settle(out, client, conn)
    assert events == [ConnectionAttempt(cid, PEER)]
    # bind with an unknown CONNECTION-ID: 400
    data_conn = link.connect(("10.48.54.230", 33348))
    bad = link.exchange(client, data_conn, client.connection_bind(4.0, cid ^ 1, "d")[1])
    assert error_code(bad) == 400
    data_conn = link.connect(("10.48.54.230", 33349))
    assert link.exchange(client, data_conn, client.connection_bind(4.0, cid, "d")[1]) == [
        Bound(4, cid)]


def test_bind_timer_closes_the_peer_connection() -> None:
    """RFC 6062 §5.3: no ConnectionBind within 30 s -> the peer connection is closed."""
    link = Link(TurnServerCore(config()))
    client, conn, alloc = allocated(link)
    link.exchange(client, conn, client.create_permission(1.0, [PEER[0]])[1])
    cid, _ = link.server.peer_accepted(alloc.relayed, PEER, 10.0)
    assert link.server.next_deadline() == 40.0
    assert link.server.handle_timer(39.9) == []
    out = link.server.handle_timer(40.0)
    assert out == [ClosePeer(cid, "no ConnectionBind in time")]  # type: ignore[arg-type]
    data_conn = link.connect()
    late = link.exchange(client, data_conn, client.connection_bind(41.0, cid or 0, "d")[1])
    assert error_code(late) == 400


def test_stale_nonce_is_438_and_the_client_retries() -> None:
    link = Link(TurnServerCore(config(nonce_lifetime=100.0)))
    client, conn, _ = allocated(link)
    link.now = 150.0
    events = link.exchange(client, conn, client.refresh(150.0, 600)[1])
    assert events == [Refreshed(2, 600)]
    codes = [parse(a.data).error for a in link.of(SendTo)]
    assert ErrorCode(438, "Stale Nonce (stale)") in codes


@pytest.mark.parametrize(("user", "pw"), [("cms", "wrong"), ("nobody", "pw")])
def test_wrong_credentials_are_401(user: str, pw: str) -> None:
    link = Link(TurnServerCore(config()))
    client = TurnClientCore(user, pw)
    assert error_code(link.exchange(client, link.connect(), client.allocate(0)[1])) == 401


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
    events = link.exchange(client, conn, client.create_permission(1.0, [peer])[1])
    if code:
        assert error_code(events) == code
    else:
        assert isinstance(events[0], PermissionCreated)


def test_quotas_and_refused_tcp() -> None:
    link = Link(TurnServerCore(config(user_quota=1)))
    allocated(link)
    client = TurnClientCore("cms", "pw")
    assert error_code(link.exchange(client, link.connect(), client.allocate(0)[1])) == 486
    other = TurnClientCore("other", "pw2")
    assert isinstance(link.exchange(other, link.connect(), other.allocate(0)[1])[0], Allocated)
    link = Link(TurnServerCore(config(total_quota=1)))
    allocated(link)
    assert error_code(link.exchange(other, link.connect(), other.allocate(0)[1])) == 486
    link = Link(TurnServerCore(config(refuse_tcp=True)))
    client = TurnClientCore("cms", "pw")
    assert error_code(link.exchange(client, link.connect(), client.allocate(0)[1])) == 442
    udp = allocated(Link(TurnServerCore(config(refuse_tcp=True))), transport=PROTO_UDP)[2]
    assert udp.relayed == (RELAY, 24000)


def test_unknown_comprehension_required_attribute_is_420() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link)
    assert client.key and client.realm and client.nonce
    req = Message.request(Method.REFRESH, [UnknownAttribute(0x7ABC, b"??")])
    raw = req.with_attributes(*auth_attrs(client)).encode(integrity_key=client.key)
    (reply,) = link.server.message_received(conn, raw, 1.0)
    msg = parse(reply.data)  # type: ignore[union-attr]
    assert msg.error is not None and msg.error.code == 420
    assert msg.get(UnknownAttributes) == UnknownAttributes((0x7ABC,))
    assert verify_integrity(reply.data, client.key)  # type: ignore[union-attr]


def auth_attrs(client: TurnClientCore) -> list[Attribute]:
    return [Username(client.username), Realm(client.realm or ""), Nonce(client.nonce or b"")]


def test_second_allocate_on_a_connection_is_437_and_refresh_zero_deletes() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link)
    assert error_code(link.exchange(client, conn, client.allocate(1.0)[1])) == 437
    assert link.exchange(client, conn, client.refresh(2.0, 0)[1]) == [Refreshed(3, 0)]
    assert link.of(CloseRelay) and link.server.allocations == {}
    assert error_code(link.exchange(client, conn, client.refresh(3.0, 600)[1])) == 437


def test_control_connection_loss_deletes_everything() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, alloc = allocated(link)
    link.exchange(client, conn, client.create_permission(1.0, [PEER[0]])[1])
    cid, _ = link.server.peer_accepted(alloc.relayed, PEER, 2.0)
    data_conn = link.connect()
    link.exchange(client, data_conn, client.connection_bind(3.0, cid or 0, "d")[1])
    out = link.server.connection_lost(conn, 4.0)
    assert ClosePeer(cid or 0, "allocation deleted (control connection closed)") in out
    assert any(isinstance(a, CloseConnection) and a.conn == data_conn for a in out)
    assert isinstance(out[-1], CloseRelay)


def test_allocation_expires_and_client_refreshes_before() -> None:
    link = Link(TurnServerCore(config(default_lifetime=100, max_lifetime=100)))
    client, conn, alloc = allocated(link, lifetime=100)
    assert alloc.lifetime == 100
    assert client.next_deadline() == 50.0  # refresh at half the lifetime (margin 60 s)
    (send,) = client.handle_timer(50.0)
    assert isinstance(send, Send) and send.message.method is Method.REFRESH
    link.now = 50.0
    (refreshed,) = link.exchange(client, conn, send)
    assert isinstance(refreshed, Refreshed) and refreshed.lifetime == 100
    assert link.server.next_deadline() == 150.0
    link.server.handle_timer(150.0)
    assert link.server.allocations == {}


def test_client_permission_refresh_and_transaction_timeout() -> None:
    client = TurnClientCore("cms", "pw", transaction_timeout=5.0)
    handle, _ = client.allocate(0.0)
    assert client.next_deadline() == 5.0
    assert client.handle_timer(5.0) == [Failed(handle, Method.ALLOCATE, 0,
                                               "no response (transaction timeout)")]


def test_server_answers_malformed_request_with_400_and_binding_without_auth() -> None:
    server = TurnServerCore(config())
    server.connection_made(1, CMS, ("10.48.54.229", 3478), 0.0)
    req = Message.request(Method.ALLOCATE, [RequestedTransport(6)]).encode()
    bad = req[:20] + b"\x00\x19\x00\x02\x06\x00\x00\x00"  # REQUESTED-TRANSPORT of 2 bytes
    bad = bad[:2] + (8).to_bytes(2, "big") + bad[4:]
    (reply,) = server.message_received(1, bad, 0.0)
    msg = parse(reply.data)  # type: ignore[union-attr]
    assert msg.cls is MessageClass.ERROR and msg.error and msg.error.code == 400
    assert msg.transaction_id == req[8:20]
    binding = Message.request(Method.BINDING)
    (reply,) = server.message_received(1, binding.encode(), 0.0)
    assert parse(reply.data).cls is MessageClass.SUCCESS  # type: ignore[union-attr]


def test_connect_and_bind_need_the_allocation_owner() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link)
    link.exchange(client, conn, client.connect(1.0, PEER)[1])
    cp = link.of(ConnectPeer)[-1]
    link.settle(link.server.peer_connect_result(cp.cid, True, 1.0), client, conn)
    intruder = TurnClientCore("other", "pw2")
    other_conn = link.connect()
    link.exchange(intruder, other_conn, intruder.allocate(2.0)[1])
    data_conn = link.connect()
    bind = intruder.connection_bind(3.0, cp.cid, "d")[1]
    assert error_code(link.exchange(intruder, data_conn, bind)) == 441
    assert XorPeerAddress(*PEER).addr == PEER
    assert ConnectionId(cp.cid).value == cp.cid


def test_peer_connection_limit_is_508() -> None:
    link = Link(TurnServerCore(config(max_peer_connections=1)))
    client, conn, alloc = allocated(link)
    link.exchange(client, conn, client.connect(1.0, PEER)[1])
    assert error_code(link.exchange(client, conn, client.connect(1.0, ("192.168.1.9", 1))[1])
                      ) == 508
    link.exchange(client, conn, client.create_permission(2.0, ["192.168.1.9"])[1])
    assert link.server.peer_accepted(alloc.relayed, ("192.168.1.9", 5), 3.0) == (None, [])


def test_idle_connection_is_closed_but_not_one_that_allocated() -> None:
    link = Link(TurnServerCore(config(idle_timeout=60.0)))
    idle = link.connect()  # never sends anything
    allocated(link)  # allocates at t=0 on its own connection
    assert link.server.next_deadline() == 60.0
    out = link.server.handle_timer(60.0)
    assert [a for a in out if isinstance(a, CloseConnection)] == [CloseConnection(idle, "idle")]
    assert link.server.handle_timer(61.0) == []


def test_channel_bind_then_channel_data_both_ways_on_a_udp_allocation() -> None:
    """RFC 8656 §11-§12: a channel for one peer; ChannelData from the client goes to it as a
    datagram, its datagrams come back as ChannelData padded to 4 bytes (a stream); another
    permitted peer still gets Data indications; the binding ends after 10 minutes."""
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link, transport=PROTO_UDP)
    alloc = link.of(OpenRelay)[0].alloc
    peer, other = ("192.168.1.252", 40000), ("192.168.1.252", 40002)
    assert link.exchange(client, conn, client.channel_bind(1.0, 0x4001, peer)[1]) == [
        ChannelBound(2, 0x4001, peer)]
    out = link.server.message_received(conn, channel_data(0x4001, b"abc"), 2.0)
    assert out == [SendDatagram(alloc, peer, b"abc")]
    (back,) = link.server.datagram_received(alloc, peer, b"hello", 3.0)
    assert isinstance(back, SendTo) and back.message is None
    assert back.data == bytes.fromhex("40010005") + b"hello\0\0\0"
    (ind,) = link.server.datagram_received(alloc, other, b"x", 3.0)  # permission by host
    assert isinstance(ind, SendTo) and parse(ind.data).method is Method.DATA
    # the same channel again refreshes it; unbound channels carry nothing
    assert isinstance(link.exchange(client, conn, client.channel_bind(
        4.0, 0x4001, peer)[1])[0], ChannelBound)
    assert link.server.message_received(conn, channel_data(0x4002, b"abc"), 5.0) == []
    late = 4.0 + 600.0 + 1
    assert link.server.message_received(conn, channel_data(0x4001, b"abc"), late) == []


def test_channel_bind_refusals() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link, transport=PROTO_UDP)
    peer = ("192.168.1.252", 40000)
    assert isinstance(link.exchange(client, conn, client.channel_bind(
        1.0, 0x4001, peer)[1])[0], ChannelBound)
    for number, to in ((0x4001, ("192.168.1.252", 40002)),  # the number is taken
                       (0x4002, peer),                      # the peer has a number
                       (0x3FFF, ("192.168.1.252", 40004)),  # below the range
                       (0x8000, ("192.168.1.252", 40004))):  # above RFC 5766's range
        assert error_code(link.exchange(client, conn, client.channel_bind(
            2.0, number, to)[1])) == 400, hex(number)
    # RFC 5766's upper range is accepted, as coturn does (its clients use it)
    assert isinstance(link.exchange(client, conn, client.channel_bind(
        2.0, 0x7FFF, ("192.168.1.252", 40006))[1])[0], ChannelBound)
    tcp = Link(TurnServerCore(config()))
    tclient, tconn, _ = allocated(tcp)
    assert error_code(tcp.exchange(tclient, tconn, tclient.channel_bind(
        1.0, 0x4001, peer)[1])) == 400


def test_a_retransmitted_allocate_gets_the_same_answer_not_437() -> None:
    """RFC 8656 §7.2: over UDP the success may be lost and the client sends the same request
    (same transaction ID) again; it gets the same answer. Any other Allocate: 437."""
    link = Link(TurnServerCore(config()))
    client = TurnClientCore("cms", "pw")
    conn = link.connect()
    events = link.settle(link.server.message_received(
        conn, client.allocate(0.0, transport=PROTO_UDP)[1].data, 0.0), client, conn)
    assert isinstance(events[0], Send)
    authed = events[0].data  # the Allocate with credentials
    (opened,) = link.server.message_received(conn, authed, 0.0)
    assert isinstance(opened, OpenRelay)  # the relay is bound, then the answer goes
    (ok,) = link.server.relay_result(opened.alloc, True, 0.0)
    assert isinstance(ok, SendTo)
    assert parse(ok.data).cls is MessageClass.SUCCESS
    (again,) = link.server.message_received(conn, authed, 1.0)
    assert isinstance(again, SendTo) and again.data == ok.data
    assert error_code(link.exchange(client, conn, client.allocate(2.0)[1])) == 437
