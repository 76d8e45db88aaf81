"""The TURN cores against misbehaving and hostile peers: every refusal path its own test (each
fails when its check is removed), and the defects an attack found (bounded 420, a junk-request
budget, IPv4 written as IPv6, nonces tied to their connection, FINGERPRINT checked)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from lab.proto.stun import (
    PROTO_TCP,
    Attribute,
    ConnectionId,
    Lifetime,
    Message,
    MessageClass,
    Method,
    Nonce,
    RequestedAddressFamily,
    RequestedTransport,
    UnknownAttribute,
    UnknownAttributes,
    XorMappedAddress,
    XorRelayedAddress,
    parse,
)
from lab.proto.turn.client import TurnClientCore
from lab.proto.turn.client_events import Allocated, Failed, PermissionCreated
from lab.proto.turn.server import TurnServerCore
from lab.proto.turn.state import Action, CloseConnection, ConnectPeer, SendToClient
from tests.unit.test_turn_core import (
    PEER,
    Link,
    allocated,
    auth_attrs,
    config,
    error_code,
    request,
)


def signed(client: TurnClientCore, method: Method, attrs: Sequence[Attribute],
           fingerprint: bool = True) -> bytes:
    assert client.key is not None
    req = Message.request(method, attrs)
    return req.with_attributes(*auth_attrs(client)).encode(integrity_key=client.key,
                                                           fingerprint=fingerprint)


def code_of(msg: Message) -> int:
    return msg.error.code if msg.error is not None else 0


def challenged(link: Link) -> tuple[TurnClientCore, int]:
    """A client that met the 401 (it knows realm, nonce and key) and allocated nothing."""
    client = TurnClientCore("cms", "pw")
    conn = link.connect()
    out = link.feed(conn, request(client, client.allocate(0.0)).data, 0.0)
    client.receive(out[0].data, 0.0)  # type: ignore[union-attr]
    client.actions()  # the retry with credentials, not sent
    assert client.key is not None and client.nonce is not None
    return client, conn


def answer(out: Sequence[Action]) -> Message:
    sends = [a for a in out if isinstance(a, SendToClient)]
    assert len(sends) == 1, out
    assert sends[0].message is not None
    return sends[0].message


# --- defect: 6,547 unknown comprehension-required attributes ---------------------------------

def test_420_lists_a_bounded_number_of_unknown_attributes() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link)
    unknown = [UnknownAttribute(0x4000 + i, b"") for i in range(6547)]
    out = link.feed(conn, signed(client, Method.REFRESH, unknown), 1.0)
    msg = parse(out[0].data)  # type: ignore[union-attr]
    assert msg.error is not None and msg.error.code == 420
    listed = msg.get(UnknownAttributes)
    assert listed is not None and listed.types == tuple(range(0x4000, 0x4000 + len(listed.types)))
    assert 1 <= len(listed.types) <= 64


# --- defect: a stream of junk requests --------------------------------------------------------

def test_junk_requests_past_the_budget_close_the_connection() -> None:
    link = Link(TurnServerCore(config(max_refusals=64)))
    conn = link.connect()
    junk = Message.request(Method(0x0FF), []).encode()  # an unknown method: 400 each
    for _ in range(64):
        out = link.feed(conn, junk, 0.0)
        assert not any(isinstance(a, CloseConnection) for a in out)
    out = link.feed(conn, junk, 0.0)
    assert CloseConnection(conn, "too many refused requests") in out


def test_a_success_resets_the_refusal_budget() -> None:
    link = Link(TurnServerCore(config(max_refusals=3)))
    conn = link.connect()
    junk = Message.request(Method(0x0FF), []).encode()
    binding = Message.request(Method.BINDING, []).encode()
    for _ in range(10):
        for raw in (junk, junk, junk, binding):
            out = link.feed(conn, raw, 0.0)
            assert not any(isinstance(a, CloseConnection) for a in out)


# --- defect: IPv4 written as IPv6, 0.0.0.0/8, the relayed address of relay_ip "::" ------------

@pytest.mark.parametrize("peer", ["::ffff:127.0.0.1", "::127.0.0.1", "::ffff:0.0.0.1",
                                  "0.1.2.3", "::ffff:224.0.0.1"])
def test_ipv4_peers_written_as_ipv6_meet_the_ipv4_policy(peer: str) -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link)
    assert error_code(link.ask(client, conn, client.connect(1.0, (peer, 7000)))) == 403
    assert error_code(link.ask(client, conn, client.create_permission(1.0, [peer]))
                      ) == 403
    assert link.of(ConnectPeer) == []


def test_a_mapped_peer_that_is_allowed_is_used_as_ipv4() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link)
    link.ask(client, conn, client.connect(1.0, ("::ffff:192.168.1.252", 7000)))
    (cp,) = link.of(ConnectPeer)
    assert cp.peer == ("192.168.1.252", 7000)
    events = link.ask(client, conn, client.create_permission(2.0, ["::ffff:192.168.1.9"]))
    assert isinstance(events[0], PermissionCreated)
    assert link.server.allocations[1].permitted("192.168.1.9", 3.0)


@pytest.mark.parametrize("server_ip", ["10.48.54.229", "::ffff:10.48.54.229"])
def test_unspecified_relay_ip_relays_from_the_address_the_client_reached(server_ip: str) -> None:
    server = TurnServerCore(config(relay_ip="::"))
    link = Link(server)
    client = TurnClientCore("cms", "pw")
    link.conns += 1
    server.connection_made(link.conns, ("10.48.54.230", 4000), (server_ip, 3478), 0.0)
    events = link.ask(client, link.conns, client.allocate(0.0))
    assert isinstance(events[0], Allocated)
    assert events[0].relayed == ("10.48.54.229", 24000)
    assert error_code(link.ask(client, link.conns,
                               client.connect(1.0, ("::ffff:127.0.0.1", 80)))) == 403


def test_an_ipv6_relay_only_for_a_client_that_asks_for_it() -> None:
    link = Link(TurnServerCore(config()))  # IPv4 relay
    client, conn = challenged(link)
    raw = signed(client, Method.ALLOCATE, [RequestedTransport(PROTO_TCP),
                                           RequestedAddressFamily(2)])
    assert code_of(answer(link.feed(conn, raw, 1.0))) == 440
    link = Link(TurnServerCore(config(relay_ip="fd00::1")))
    client = TurnClientCore("cms", "pw")
    assert error_code(link.ask(client, link.connect(), client.allocate(0.0))) == 440


# --- defect: a nonce not tied to its connection; FINGERPRINT not checked ----------------------

def test_a_signed_allocate_replayed_on_another_connection_is_438() -> None:
    link = Link(TurnServerCore(config()))
    client, _conn = challenged(link)
    raw = signed(client, Method.ALLOCATE, [RequestedTransport(PROTO_TCP)])
    other = link.connect(("10.48.54.66", 40000))
    reply = answer(link.feed(other, raw, 1.0))
    assert reply.error is not None and reply.error.code == 438
    assert link.server.allocations == {}


def test_connection_bind_may_reuse_the_control_connections_nonce() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, _ = allocated(link)
    link.ask(client, conn, client.connect(1.0, PEER))
    (cp,) = link.of(ConnectPeer)
    link.server.peer_connect_result(cp.cid, True, 1.5)
    link.settle(client, conn)
    data = link.connect(("10.48.54.230", 33348))
    raw = signed(client, Method.CONNECTION_BIND, [ConnectionId(cp.cid)])
    assert answer(link.feed(data, raw, 2.0)).cls is MessageClass.SUCCESS
    # the same nonce on a third connection for anything else: 438
    third = link.connect(("10.48.54.230", 33349))
    raw = signed(client, Method.REFRESH, [])
    assert code_of(answer(link.feed(third, raw, 2.0))) == 438


def test_a_request_with_a_wrong_fingerprint_is_dropped() -> None:
    link = Link(TurnServerCore(config()))
    conn = link.connect()
    raw = bytearray(Message.request(Method.BINDING, []).encode(fingerprint=True))
    assert link.feed(conn, bytes(raw), 0.0) != []
    raw[-1] ^= 0x01
    assert link.feed(conn, bytes(raw), 0.0) == []


# --- refusal paths --------------------------------------------------------------------------

def test_permissions_expire_after_300_s() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, alloc = allocated(link)
    link.ask(client, conn, client.create_permission(0.0, [PEER[0]]))
    cid = link.server.peer_accepted(alloc.relayed, PEER, 299.0)
    assert cid is not None
    link.server.peer_closed(cid, 299.5)
    link.server.handle_timer(300.5)
    link.server.actions()  # the ConnectionAttempt, the peer's close
    cid = link.server.peer_accepted(alloc.relayed, PEER, 300.5)
    assert (cid, link.server.actions()) == (None, [])


def test_a_forged_nonce_is_refused() -> None:
    link = Link(TurnServerCore(config()))
    client, conn = challenged(link)
    assert client.nonce is not None
    forged = client.nonce[:12] + bytes(16 * [ord("0")])
    client.nonce = forged
    raw = signed(client, Method.ALLOCATE, [RequestedTransport(PROTO_TCP)])
    reply = answer(link.feed(conn, raw, 1.0))
    assert reply.error is not None and reply.error.code == 438
    assert reply.get(Nonce) is not None and reply.get(Nonce) != Nonce(forged)


def test_a_wrong_message_integrity_is_401() -> None:
    link = Link(TurnServerCore(config()))
    client, conn = challenged(link)
    client.key = bytes(16)
    raw = signed(client, Method.ALLOCATE, [RequestedTransport(PROTO_TCP)])
    assert code_of(answer(link.feed(conn, raw, 1.0))) == 401
    assert link.server.allocations == {}


def test_a_peer_without_permission_is_refused() -> None:
    link = Link(TurnServerCore(config()))
    client, conn, alloc = allocated(link)
    link.ask(client, conn, client.create_permission(0.0, ["192.168.1.9"]))
    assert link.server.peer_accepted(alloc.relayed, PEER, 1.0) is None
    assert link.server.actions() == []
    assert link.server.peer_accepted(alloc.relayed, ("192.168.1.9", 5), 1.0) is not None


def _forged_success(client: TurnClientCore, handle_tid: bytes, key: bytes | None) -> bytes:
    msg = Message(Method.ALLOCATE, MessageClass.SUCCESS, handle_tid, (
        XorRelayedAddress("192.168.1.229", 24000), Lifetime(600),
        XorMappedAddress("10.48.54.230", 33347)))
    return msg.encode(integrity_key=key, fingerprint=True)


@pytest.mark.parametrize("key", [None, bytes(16)], ids=["no MI", "wrong MI"])
def test_the_client_refuses_a_success_without_valid_message_integrity(key: bytes | None) -> None:
    link = Link(TurnServerCore(config()))
    client = TurnClientCore("cms", "pw")
    conn = link.connect()
    send = request(client, client.allocate(0.0))
    challenge = link.feed(conn, send.data, 0.0)
    client.receive(challenge[0].data, 0.0)  # type: ignore[union-attr]
    (retry,) = client.actions()
    tid = parse(retry.data).transaction_id  # type: ignore[union-attr]
    client.receive(_forged_success(client, tid, key), 0.1)
    events = client.actions()
    assert len(events) == 1 and isinstance(events[0], Failed) and events[0].code == 0
    assert "MESSAGE-INTEGRITY" in events[0].reason
