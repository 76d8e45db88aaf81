"""Our TURN server with our client in three namespaces (tests/turnhelp.py): both RFC 6062
directions, the seed's pinned ports, the Skype client's two control connections from one port,
and the negative cases, each with its exact error code."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Callable

from lab.aio.turn_client import TurnClient, TurnError
from lab.aio.turn_io import connect_tcp
from lab.proto.stun import Message, Method, RequestedTransport, parse
from lab.proto.turn.config import PeerPolicy
from lab.proto.turn.state import Action
from tests.conftest import ROOT
from tests.turnhelp import (
    CLI,
    PASSWORD,
    PEER,
    REALM,
    SRV_IN,
    SRV_OUT,
    USER,
    echo_server,
    read_exactly,
)
from tests.turnlab import FakeClock, Lab, client


async def send_and_read(addr: tuple[str, int], data: bytes, within: float) -> bytes:
    """Connect, send ``data``, and return what comes back before the other side closes
    (``b""``: closed without an answer; a close with our bytes unread is a reset)."""
    reader, writer = await asyncio.open_connection(*addr)
    writer.write(data)
    try:
        async with asyncio.timeout(within):
            got = await reader.read(100)
    except ConnectionResetError:
        got = b""
    writer.close()
    return got


def test_both_directions_with_seed_ports(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory()
    lab.peer.run(echo_server(PEER, 7000))

    async def peer_side(relayed: tuple[str, int]) -> tuple[str, int]:
        reader, writer = await asyncio.open_connection(*relayed)
        writer.write(b"\x00\x6c\x00\x01 early binding request")
        await writer.drain()
        assert await read_exactly(reader, 5) == b"reply"
        here = writer.get_extra_info("sockname")
        writer.close()
        return (here[0], here[1])

    async def cms() -> None:
        async with client(local_addr=(CLI, 33347), data_local_ports=[33348]) as c:
            alloc = await c.allocate()
            assert alloc.relayed == (SRV_OUT, 24000) and alloc.mapped == (CLI, 33347)
            await c.create_permission(PEER)
            accepting = asyncio.ensure_future(c.accept())
            peer_done = lab.peer.submit(peer_side(alloc.relayed))
            stream = await accepting
            assert stream.local == (CLI, 33348)
            early = await read_exactly(stream.reader, 26)
            assert early == b"\x00\x6c\x00\x01 early binding request"
            stream.writer.write(b"reply")
            await stream.writer.drain()
            assert (await peer_done)[0] == PEER
            await stream.close()
            out = await c.connect((PEER, 7000))
            out.writer.write(b"x" * 100_000)
            assert await read_exactly(out.reader, 100_000) == b"x" * 100_000
            await out.close()

    lab.cli.run(cms(), timeout=30)


def test_skype_two_control_connections_from_one_port(lab_factory: Callable[..., Lab]) -> None:
    """flow.md §1: both control connections leave from 17676 to :443 and :3478; two
    allocations, the relays in configured order (53577 then 51577)."""
    lab = lab_factory(relay_ports=(53577, 51577))

    async def skype() -> list[tuple[str, int]]:
        a = client(server=(SRV_IN, 443), local_addr=(CLI, 17676))
        b = client(server=(SRV_IN, 3478), local_addr=(CLI, 17676))
        async with a, b:
            first = await a.allocate()
            second = await b.allocate()
            assert first.mapped == second.mapped == (CLI, 17676)
            return [first.relayed, second.relayed]

    assert lab.cli.run(skype()) == [(SRV_OUT, 53577), (SRV_OUT, 51577)]


def test_server_connects_from_the_relayed_address(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory()

    async def listening() -> socket.socket:  # before the Connect: no race with the SYN
        sock = socket.socket()
        sock.bind((PEER, 7100))
        sock.listen()
        sock.setblocking(False)
        return sock

    async def accept_once(sock: socket.socket) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        conn, remote = await loop.sock_accept(sock)
        await loop.sock_recv(conn, 10)  # until the client closes its end
        conn.close()
        sock.close()
        return (remote[0], remote[1])

    seen = lab.peer.start(accept_once(lab.peer.run(listening())))

    async def cms() -> tuple[str, int]:
        async with client() as c:
            alloc = await c.allocate()
            stream = await c.connect((PEER, 7100))
            await stream.close()
            return alloc.relayed

    relayed = lab.cli.run(cms())
    assert seen.result(10) == relayed


def refusal(lab: Lab, coro: Callable[[TurnClient], object], **kw: object) -> int:
    """Run ``coro(client)`` in the client namespace; the TURN error code it raised."""

    async def go() -> int:
        async with client(**kw) as c:
            try:
                await coro(c)  # type: ignore[misc]
            except TurnError as exc:
                return exc.code
        return 0

    return lab.cli.run(go())


def test_negative_codes(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(peer_policy=PeerPolicy.from_text(denied=["192.168.1.200-192.168.1.210"]),
                      user_quota=1)
    lab.peer.run(echo_server(PEER, 7000))

    async def wrong_password(c: TurnClient) -> None:
        await c.allocate()

    assert refusal(lab, wrong_password, password="nope") == 401

    async def connect_twice(c: TurnClient) -> None:
        await c.allocate()
        first = await c.connect((PEER, 7000))
        try:
            await c.connect((PEER, 7000))
        finally:
            await first.close()

    assert refusal(lab, connect_twice) == 446

    async def closed_port(c: TurnClient) -> None:
        await c.allocate()
        await c.connect((PEER, 7999))

    assert refusal(lab, closed_port) == 447

    async def denied(c: TurnClient) -> None:
        await c.allocate()
        await c.create_permission("192.168.1.205")

    assert refusal(lab, denied) == 403

    async def loopback(c: TurnClient) -> None:
        await c.allocate()
        await c.connect(("127.0.0.1", 22))

    assert refusal(lab, loopback) == 403

    async def quota(c: TurnClient) -> None:
        await c.allocate()
        async with client() as second:
            await second.allocate()

    assert refusal(lab, quota) == 486


def test_no_credentials_and_stale_nonce(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(nonce_lifetime=60.0)

    async def raw_allocate() -> int:
        sock = await connect_tcp((SRV_IN, 3478))
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, Message.request(
            Method.ALLOCATE, [RequestedTransport(6)]).encode())
        reply = parse(await loop.sock_recv(sock, 4096))
        sock.close()
        return reply.error.code if reply.error else 0

    assert lab.cli.run(raw_allocate()) == 401

    async def stale() -> list[int]:
        codes: list[int] = []
        async with client(on_message=lambda t: codes.append(
                t.message.error.code if t.message.error else 0)) as c:
            await c.allocate()
            lab.clock.now += 61  # the nonce is now stale on the server
            await c.refresh(600)
        return codes

    codes = lab.cli.run(stale())
    assert 438 in codes and codes[-1] == 0


def test_peer_without_permission_is_refused(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory()

    async def cms() -> tuple[str, int]:
        c = client()
        await c.open()
        lab_state["client"] = c
        return (await c.allocate()).relayed

    lab_state: dict[str, TurnClient] = {}
    relayed = lab.cli.run(cms())

    # the relay closes an unpermitted peer
    assert lab.peer.run(send_and_read(relayed, b"hello?", 5)) == b""
    lab.cli.run(lab_state["client"].close())


def test_bind_with_unknown_id_and_bind_timer(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory()
    state: dict[str, object] = {}

    async def setup() -> tuple[str, int]:
        c = client()
        await c.open()
        state["client"] = c
        alloc = await c.allocate()
        await c.create_permission(PEER)
        return alloc.relayed

    relayed = lab.cli.run(setup())

    async def bind_unknown() -> int:
        c = state["client"]
        assert isinstance(c, TurnClient)
        try:
            await c.bind(0x1234, (PEER, 1))
        except TurnError as exc:
            return exc.code
        return 0

    assert lab.cli.run(bind_unknown()) == 400

    waiting = lab.peer.start(send_and_read(relayed, b"data nobody binds", 10))
    c = state["client"]
    assert isinstance(c, TurnClient)

    async def attempt() -> int:
        return (await c.wait_attempt()).connection_id

    cid = lab.cli.run(attempt())
    lab.advance(29.0)

    async def due() -> list[Action]:  # what the core's timers do at 29 s, asked on its loop
        lab.server.core.handle_timer(lab.clock.now)
        return lab.server.core.actions()

    assert lab.srv.run(due()) == []  # 29 s: still waiting for the bind
    assert cid in lab.server.core.peers
    lab.advance(1.5)  # 30.5 s after the peer connected: the bind timer fired
    assert waiting.result(10) == b""
    assert cid not in lab.server.core.peers

    async def late_bind() -> int:
        try:
            await c.bind(cid, (PEER, 1))
        except TurnError as exc:
            return exc.code
        return 0

    assert lab.cli.run(late_bind()) == 400
    lab.cli.run(c.close())


def test_garbage_on_the_listening_port(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory()

    http = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert lab.cli.run(send_and_read((SRV_IN, 3478), http, 5)) == b""  # closed, no answer

    async def still_works() -> tuple[str, int]:
        async with client() as c:
            return (await c.allocate()).relayed

    assert lab.cli.run(still_works())[0] == SRV_OUT


def test_refuse_tcp_like_old_expressway(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(refuse_tcp=True)

    async def allocate(c: TurnClient) -> None:
        await c.allocate()

    assert refusal(lab, allocate) == 442


def test_udp_allocation_send_and_data_indications(lab_factory: Callable[..., Lab]) -> None:
    """REQUESTED-TRANSPORT UDP over the TCP control connection: Send and Data indications
    (RFC 8656 §10, §11), with a permission."""
    lab = lab_factory()

    async def udp_echo() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((PEER, 7200))
        sock.setblocking(False)
        loop = asyncio.get_running_loop()

        def echo() -> None:
            data, addr = sock.recvfrom(2048)
            sock.sendto(data.upper(), addr)

        loop.add_reader(sock.fileno(), echo)
        return sock

    lab.peer.run(udp_echo())

    async def cms() -> tuple[tuple[str, int], bytes]:
        async with client() as c:
            alloc = await c.allocate(transport=17)
            await c.create_permission(PEER)
            await c.send((PEER, 7200), b"datagram through turn")
            async with asyncio.timeout(5):
                peer, data = await c.receive()
            assert alloc.relayed[0] == SRV_OUT
            return peer, data

    assert lab.cli.run(cms()) == ((PEER, 7200), b"DATAGRAM THROUGH TURN")


def probe(lab: Lab, *args: str) -> subprocess.Popen[str]:
    """``uclab turn-probe`` in the client namespace."""
    return subprocess.Popen(
        ["ip", "netns", "exec", lab.net.cli.ns, "timeout", "30", sys.executable, "-m", "lab",
         "turn-probe", "--server", f"{SRV_IN}:3478", "--user", f"{USER}:{PASSWORD}", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)


def test_turn_probe_accept_from_and_connect(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory()
    lab.peer.run(echo_server(PEER, 7000))
    proc = probe(lab, "--accept-from", PEER, "--local-port", "33347", "--data-port", "33348",
                 "--realm", REALM)
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("relayed address"):
        lines.append(proc.stdout.readline().rstrip())
        assert lines[-1] or proc.poll() is None, lines
    host, port = lines[-1].split()[-1].split(":")

    async def peer_connects() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"\x00\x6c\x00\x01 hello from the edge")
        await writer.drain()
        await reader.read(100)  # until the probe closes
        writer.close()

    lab.peer.run(peer_connects())
    out = proc.stdout.read()  # not communicate(): it would skip what readline() buffered
    proc.wait(30)
    text = "\n".join(lines) + "\n" + out
    assert proc.returncode == 0, text
    for step in ("10.48.54.230:33347 -> 10.48.54.229:3478      Allocate request",
                 "Allocate error 401 (Unauthorized)", "XOR-RELAYED-ADDRESS=192.168.1.229:24000",
                 "CreatePermission request  XOR-PEER-ADDRESS=192.168.1.252:0",
                 "CreatePermission success", "ConnectionAttempt indication",
                 "10.48.54.230:33348 -> 10.48.54.229:3478      ConnectionBind request",
                 "ConnectionBind success", "hello from the edge",
                 "verdict: TCP TURN (RFC 6062) works"):
        assert step in text, text
    done = probe(lab, "--connect", f"{PEER}:7000")
    out, _ = done.communicate(timeout=30)
    assert done.returncode == 0 and "Connect success" in out and "uclab turn-probe" in out, out


def test_turn_probe_reports_the_refusal(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(refuse_tcp=True)
    out, _ = probe(lab, "--connect", f"{PEER}:7000").communicate(timeout=30)
    assert "Allocate error 442" in out
    assert "verdict: FAILED at Allocate: 442 Unsupported Transport Protocol" in out


def test_client_refreshes_allocation_and_permission_by_itself(
    lab_factory: Callable[..., Lab]
) -> None:
    """RFC 8656 §7.3 / §9: the client refreshes before LIFETIME (600 s) and before a
    permission's 300 s, driven by its injected clock, with no call from the application."""
    lab = lab_factory()
    clock = FakeClock()
    sent: list[str] = []

    async def cms() -> list[str]:
        async with client(clock=clock, on_message=lambda t: sent.append(
                t.message.describe()) if t.direction == "send" else None) as c:
            await c.allocate()
            await c.create_permission(PEER)
            sent.clear()
            clock.now += 541  # past 600 - 60 s and past the permission's 240 s
            c.wake_timers()
            for _ in range(50):
                await asyncio.sleep(0.02)
                if len(sent) >= 2:
                    break
            assert c.allocation is not None
            return sorted(sent)

    assert lab.cli.run(cms()) == ["CreatePermission request", "Refresh request"]
