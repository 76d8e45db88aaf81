"""The same attacks against ``uclab turn-server`` and coturn's ``turnserver`` (the reference),
in namespaces of their own (tests/turnhelp.py), each server under ``prlimit --nofile=100``:
what each answers, and after every attack a legitimate Allocate within a second. Where coturn's
answer is the RFC's, ours must be the same. Bounded: a few hundred connections, 4 MB of junk,
about 20 s per server. The table of docs/turn.md is this test's output (``UCLAB_ABUSE_TABLE``
names a file to write it to)."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from lab.proto.stun import (
    PROTO_TCP,
    Attribute,
    Message,
    Method,
    Nonce,
    Realm,
    RequestedTransport,
    StunStreamFramer,
    UnknownAttribute,
    UnknownAttributes,
    Username,
    XorPeerAddress,
    parse,
)
from lab.proto.turn.client import TurnClientCore
from lab.proto.turn.client_events import Allocated, SendToServer
from tests.nethelp import NetBench, NsLoop
from tests.turnhelp import (
    PASSWORD,
    SRV_IN,
    USER,
    TurnNet,
    build_turn_net,
    coturn,
    uclab_turn_server,
)
from tests.turnlab import client

SERVER = (SRV_IN, 3478)
NOFILE = 100


async def connected(addr: tuple[str, int] = SERVER) -> socket.socket:
    sock = socket.socket()
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, addr)
    return sock


def reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def answer(sock: socket.socket, within: float = 1.0) -> Message | None:
    """The next STUN message on ``sock``, or None (nothing within ``within`` s, or closed)."""
    loop, framer = asyncio.get_running_loop(), StunStreamFramer()
    try:
        async with asyncio.timeout(within):
            while (frame := framer.next_frame()) is None:
                data = await loop.sock_recv(sock, 65536)
                if not data:
                    return None
                framer.feed(data)
    except (TimeoutError, OSError):
        return None
    return parse(frame)


def code(msg: Message | None) -> str:
    if msg is None:
        return "no answer"
    return str(msg.error.code) if msg.error is not None else "success"


async def challenged(sock: socket.socket) -> TurnClientCore:
    """A client core that met the server's 401 on ``sock`` (it knows realm, nonce, key)."""
    core = TurnClientCore(USER, PASSWORD)
    core.allocate(0.0)
    (request,) = core.actions()
    assert isinstance(request, SendToServer)
    await asyncio.get_running_loop().sock_sendall(sock, request.data)
    msg = await answer(sock)
    assert msg is not None
    core.receive(msg.encode(), 0.0)
    core.actions()  # the Allocate again, with credentials: not sent here
    return core


def signed(core: TurnClientCore, method: Method, attrs: list[Attribute]) -> bytes:
    assert core.key is not None and core.realm is not None and core.nonce is not None
    full = [*attrs, Username(USER), Realm(core.realm), Nonce(core.nonce)]
    return Message.request(method, full).encode(integrity_key=core.key, fingerprint=True)


async def allocated(sock: socket.socket) -> TurnClientCore:
    core = TurnClientCore(USER, PASSWORD)
    core.allocate(0.0)
    pending = [a for a in core.actions() if isinstance(a, SendToServer)]
    while pending:
        await asyncio.get_running_loop().sock_sendall(sock, pending.pop().data)
        msg = await answer(sock)
        assert msg is not None
        core.receive(msg.encode(), 0.0)
        for ev in core.actions():
            if isinstance(ev, SendToServer):
                pending.append(ev)
            else:
                assert isinstance(ev, Allocated), ev
    return core


# --- the attacks: each returns what the server answered -----------------------------------

async def reset_storm() -> str:
    for _ in range(200):
        reset(await connected())
    return "serves on"


async def descriptor_exhaustion() -> str:
    socks = []
    for _ in range(300):
        try:
            socks.append(await asyncio.wait_for(connected(), 1.0))
        except (OSError, TimeoutError):
            break
    async def served(s: socket.socket) -> bool:
        try:
            await asyncio.get_running_loop().sock_sendall(s, Message.request(
                Method.BINDING, []).encode())
        except OSError:
            return False
        return await answer(s, 1.0) is not None

    held = sum(await asyncio.gather(*(served(s) for s in socks)))
    for s in socks:
        reset(s)
    await asyncio.sleep(0.5)
    return f"{held} of {len(socks)} served, the rest closed"


async def junk_flood() -> str:
    """4 MB of well-framed requests of an unknown method, the answers read: how much the
    server takes before it closes the connection."""
    loop = asyncio.get_running_loop()
    sock = await connected()
    junk = Message.request(Method(0x0FF), []).encode() * 3000
    sent, first = 0, ""

    async def drain() -> None:
        nonlocal first
        framer = StunStreamFramer()
        while data := await loop.sock_recv(sock, 1 << 20):
            framer.feed(data)
            if not first and (frame := framer.next_frame()) is not None:
                first = code(parse(frame))
            framer.take_buffered()

    reader = asyncio.ensure_future(drain())
    try:
        while sent < 4 << 20:
            async with asyncio.timeout(2):
                await loop.sock_sendall(sock, junk)
            sent += len(junk)
    except (OSError, TimeoutError):
        pass
    reader.cancel()
    reset(sock)
    closed = sent < 4 << 20
    return f"{first}, closed after {sent // 1024} KB" if closed else f"{first}, kept open 4 MB"


async def unknown_attributes() -> str:
    sock = await connected()
    core = await challenged(sock)
    attrs: list[Attribute] = [RequestedTransport(PROTO_TCP)]
    attrs += [UnknownAttribute(0x4000 + i, b"") for i in range(6547)]
    await asyncio.get_running_loop().sock_sendall(sock, signed(core, Method.ALLOCATE, attrs))
    msg = await answer(sock)
    sock.close()
    listed = msg.get(UnknownAttributes) if msg is not None else None
    return code(msg) + (f" listing {len(listed.types)}" if listed is not None else "")


async def replayed_allocate() -> str:
    first, second = await connected(), await connected()
    core = await challenged(first)
    await asyncio.get_running_loop().sock_sendall(
        second, signed(core, Method.ALLOCATE, [RequestedTransport(PROTO_TCP)]))
    msg = await answer(second)
    first.close()
    second.close()
    return code(msg)


async def wrong_fingerprint() -> str:
    sock = await connected()
    raw = bytearray(Message.request(Method.BINDING, []).encode(fingerprint=True))
    raw[-1] ^= 1
    await asyncio.get_running_loop().sock_sendall(sock, bytes(raw))
    msg = await answer(sock)
    sock.close()
    return code(msg)


def peer_request(method: Method, host: str) -> Callable[[], Awaitable[str]]:
    async def attack() -> str:
        sock = await connected()
        core = await allocated(sock)
        await asyncio.get_running_loop().sock_sendall(
            sock, signed(core, method, [XorPeerAddress(host, 7000)]))
        msg = await answer(sock, 2.0)
        sock.close()
        return code(msg)
    return attack


async def stalled_headers() -> str:
    socks = [await connected() for _ in range(10)]
    header = struct.pack("!HHI", 0x0001, 65532, 0x2112A442) + bytes(12)
    for s in socks:
        await asyncio.get_running_loop().sock_sendall(s, header)
    await allocates_within()  # while they stall
    for s in socks:
        s.close()
    return "serves on"


async def allocates_within(seconds: float = 1.0) -> None:
    async with asyncio.timeout(seconds), client(server=SERVER) as c:
        await c.allocate()


ATTACKS: list[tuple[str, Callable[[], Awaitable[str]]]] = [
    ("200 connections reset (RST) at once", reset_storm),
    (f"300 idle connections, ulimit -n {NOFILE}", descriptor_exhaustion),
    ("10 headers announcing 65,532 bytes, then silence", stalled_headers),
    ("4 MB of junk requests (unknown method) on one connection", junk_flood),
    ("signed Allocate, 6,547 unknown comprehension-required attributes", unknown_attributes),
    ("signed Allocate replayed on another connection", replayed_allocate),
    ("Binding request with a wrong FINGERPRINT", wrong_fingerprint),
    ("Connect to ::ffff:127.0.0.1", peer_request(Method.CONNECT, "::ffff:127.0.0.1")),
    ("CreatePermission ::ffff:127.0.0.1",
     peer_request(Method.CREATE_PERMISSION, "::ffff:127.0.0.1")),
    ("Connect to 0.0.0.1", peer_request(Method.CONNECT, "0.0.0.1")),
    ("Connect to 127.0.0.1", peer_request(Method.CONNECT, "127.0.0.1")),
]


async def bounded(attack: Callable[[], Awaitable[str]], seconds: float = 20.0) -> str:
    try:
        async with asyncio.timeout(seconds):
            return await attack()
    except TimeoutError:
        return f"no outcome within {seconds:g} s"


def attack_all(net: TurnNet, server: AbstractContextManager[subprocess.Popen[bytes]]
               ) -> dict[str, str]:
    cli = NsLoop(net.cli.ns)
    out: dict[str, str] = {}
    try:
        with server as proc:
            for name, attack in ATTACKS:
                out[name] = cli.run(bounded(attack), timeout=60)
                assert proc.poll() is None, f"{name}: the server died"
                cli.run(allocates_within(), timeout=10)
    finally:
        cli.close()
    return out


@pytest.fixture
def net(netbench: Callable[[], NetBench]) -> Iterator[TurnNet]:
    yield build_turn_net(netbench())


def test_the_same_attacks_against_uclab_and_coturn(net: TurnNet, tmp_path: Path) -> None:
    ours = attack_all(net, uclab_turn_server(net.srv, tmp_path / "uclab.log", nofile=NOFILE,
                                             lifetime_s=120))
    theirs = attack_all(net, coturn(net.srv, tmp_path / "coturn.log", nofile=NOFILE,
                                    lifetime_s=120))
    table = ["| attack | uclab turn-server | coturn 4.6.1 |", "|---|---|---|"]
    table += [f"| {name} | {ours[name]} | {theirs[name]} |" for name, _ in ATTACKS]
    text = "\n".join(table) + "\n"
    print(text)
    if os.environ.get("UCLAB_ABUSE_TABLE"):
        Path(os.environ["UCLAB_ABUSE_TABLE"]).write_text(text)
    same = ["signed Allocate replayed on another connection",
            "Binding request with a wrong FINGERPRINT", "Connect to 0.0.0.1",
            "Connect to 127.0.0.1"]
    for name in same:
        assert ours[name] == theirs[name], (name, ours[name], theirs[name])
    assert ours["signed Allocate, 6,547 unknown comprehension-required attributes"].startswith(
        "420")
    assert ours["Connect to ::ffff:127.0.0.1"] == "403"
    assert "closed after" in ours["4 MB of junk requests (unknown method) on one connection"]
