"""Our TURN server under the attacks a TURN server on the Internet meets, in namespaces of its
own (tests/turnhelp.py): resets, failures injected at each step of a connection's life,
descriptor exhaustion, a flood of requests on one connection, a client that stops reading while
a Connect is pending, idle and stalled connections, IPv4 peers written as IPv6. After each, the
server still answers a legitimate Allocate within a second. Bounded: at most a few hundred
connections and a few seconds each."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.aio.turn_client import TurnError
from lab.proto.stun import Message, Method, StunStreamFramer
from lab.proto.turn.client import TurnClientCore
from lab.proto.turn.client_events import Allocated, SendToServer
from tests.turnhelp import (
    PASSWORD,
    PEER,
    SRV_IN,
    SRV_OUT,
    USER,
    build_turn_net,
    uclab_turn_server,
)
from tests.turnlab import Lab, client

BINDING = Message.request(Method.BINDING, []).encode()


async def allocates_within(seconds: float = 1.0, server: tuple[str, int] = (SRV_IN, 3478)
                           ) -> None:
    """A legitimate client allocates within ``seconds`` (connect, 401, Allocate)."""
    async with asyncio.timeout(seconds), client(server=server) as c:
        alloc = await c.allocate()
        assert alloc.relayed[0] == SRV_OUT


def reset(sock: socket.socket) -> None:
    """Close with a RST (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def connected(addr: tuple[str, int] = (SRV_IN, 3478), rcvbuf: int = 0) -> socket.socket:
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, addr)
    return sock


async def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True if the server closes ``sock`` within ``within`` seconds (what it sends is read)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(within):
            while await loop.sock_recv(sock, 65536):
                pass
    except TimeoutError:
        return False
    except OSError:
        pass
    return True


async def raw_allocate(sock: socket.socket) -> TurnClientCore:
    """Allocate over a plain socket with the sans-I/O client core (so the test decides when
    the client stops reading)."""
    loop = asyncio.get_running_loop()
    core, framer = TurnClientCore(USER, PASSWORD), StunStreamFramer()
    core.allocate(time.monotonic())
    pending = core.actions()
    while pending:
        send = pending.pop()
        assert isinstance(send, SendToServer), send
        await loop.sock_sendall(sock, send.data)
        while True:
            framer.feed(await loop.sock_recv(sock, 4096))
            frame = framer.next_frame()
            if frame is not None:
                break
        core.receive(frame, time.monotonic())
        for ev in core.actions():
            if isinstance(ev, SendToServer):
                pending.append(ev)
            else:
                assert isinstance(ev, Allocated), ev
    return core


# --- a reset, and any failure in one connection, ends that connection only ------------------

def test_connect_then_reset_storm_leaves_the_server_up(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory()

    async def storm() -> None:
        for _ in range(200):
            reset(await connected())
        await allocates_within()

    lab.cli.run(storm(), timeout=30)
    assert not lab.serving.done()


STEPS = ["connection_made", "message_received", "connection_lost", "relay_result",
         "peer_accepted", "handle_timer"]


@pytest.mark.parametrize("step", STEPS)
def test_a_failure_at_any_step_ends_that_connection_only(lab_factory: Callable[..., Lab],
                                                         step: str) -> None:
    """The core raises once at ``step`` (a stand-in for any bug a peer can trigger there)."""
    lab = lab_factory()
    real = getattr(lab.server.core, step)
    raised: list[str] = []

    def failing(*args: object) -> object:
        if not raised:
            raised.append(step)
            raise RuntimeError(f"injected failure in {step}")
        return real(*args)

    setattr(lab.server.core, step, failing)

    async def attack() -> None:
        if step == "peer_accepted":
            async with client() as c:
                alloc = await c.allocate()
                await c.create_permission(PEER)
                await lab.peer.submit(peer_connects(alloc.relayed))
        elif step == "handle_timer":
            lab.advance(1.0)
            await asyncio.sleep(0.1)
        elif step == "relay_result":
            with pytest.raises((TurnError, TimeoutError, OSError)):
                async with asyncio.timeout(2), client() as c:
                    await c.allocate()
        else:
            sock = await connected()
            await asyncio.get_running_loop().sock_sendall(sock, BINDING)
            await asyncio.sleep(0.1)
            sock.close()
            await asyncio.sleep(0.1)
        await allocates_within()

    lab.cli.run(attack(), timeout=30)
    assert raised == [step] and not lab.serving.done()


async def peer_connects(relayed: tuple[str, int]) -> None:
    sock = await connected(relayed)
    await asyncio.sleep(0.2)
    sock.close()


# --- descriptor exhaustion ------------------------------------------------------------------

@pytest.mark.parametrize("extra", [(), ("--max-connections", "1000")],
                         ids=["default limit", "limit above the descriptors"])
def test_descriptor_exhaustion_refuses_new_work_and_recovers(
        netbench: Callable[[], object], tmp_path: Path, extra: tuple[str, ...]) -> None:
    """``ulimit -n 100`` and 300 idle connections: the server refuses what it cannot hold,
    stays up, and allocates again once they are gone."""
    from tests.nethelp import NetBench, NsLoop  # noqa: PLC0415

    bench = netbench()
    assert isinstance(bench, NetBench)
    net = build_turn_net(bench)
    log = tmp_path / "server.log"
    cli = NsLoop(net.cli.ns)
    try:
        with uclab_turn_server(net.srv, log, nofile=100, extra=extra, lifetime_s=60) as proc:

            async def attack() -> None:
                socks = []
                misses = 0  # a loaded machine can be slow to accept: two misses in a row end it
                for _ in range(300):
                    try:
                        socks.append(await asyncio.wait_for(connected(), 5))
                        misses = 0
                    except (OSError, TimeoutError):
                        misses += 1
                        if misses == 2:
                            break
                await asyncio.sleep(0.5)
                assert proc.poll() is None, log.read_text()
                for s in socks:
                    reset(s)
                await asyncio.sleep(0.3)
                await allocates_within()

            cli.run(attack(), timeout=60)
            assert proc.poll() is None
        text = log.read_text()
        assert "Traceback" not in text
        # out of descriptors it said so: it sheds the pending connection with its reserved
        # descriptor ("refusing new connections"), or, when the shed found nothing to accept
        # (FdReserve.shed), waits and tries again ("waiting"); the limit of connections
        # refuses too
        assert "refusing" in text or "Too many open files; waiting" in text, text[-2000:]
    finally:
        cli.close()


# --- one connection must not starve the others ---------------------------------------------

def test_a_request_flood_on_one_connection_does_not_starve_an_allocate(
        lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory()

    async def flood() -> None:
        loop = asyncio.get_running_loop()
        sock = await connected()

        async def drain() -> None:
            with pytest.raises(OSError):
                while await loop.sock_recv(sock, 1 << 20):
                    pass

        async def send() -> None:
            chunk = BINDING * 3000  # 60 KB of well-framed requests
            for _ in range(70):  # 4.2 MB
                await loop.sock_sendall(sock, chunk)

        async with asyncio.TaskGroup() as tg:
            reader = tg.create_task(drain())
            writer = tg.create_task(send())
            await asyncio.sleep(0.3)
            try:
                await allocates_within()
            finally:
                writer.cancel()
                reset(sock)
                reader.cancel()

    lab.cli.run(flood(), timeout=60)


# --- the timers never wait on a client ------------------------------------------------------

def test_a_client_that_stops_reading_does_not_stop_the_timers(
        lab_factory: Callable[..., Lab]) -> None:
    """A Connect pending to a peer that does not answer (an address nobody has: ARP fails
    after seconds), its client no longer reading; the 30 s connect timer fires (the clock is
    the test's) while a send to that client cannot complete. Another client's idle timer must
    still close it."""
    lab = lab_factory()

    async def attack() -> None:
        loop = asyncio.get_running_loop()
        slow = await connected(rcvbuf=4096)
        core = await raw_allocate(slow)
        core.connect(0.0, ("192.168.1.77", 7000))
        (connect,) = core.actions()
        assert isinstance(connect, SendToServer)
        await loop.sock_sendall(slow, connect.data)
        sent = 0
        burst = BINDING * 500
        while sent < 8 << 20:
            try:
                async with asyncio.timeout(0.5):
                    await loop.sock_sendall(slow, burst)
            except (TimeoutError, OSError):
                break  # the server no longer reads us (or dropped us)
            sent += len(burst)
        idle = await connected()
        lab.advance(31.0)  # the connect timer: 447 to the client that does not read
        await asyncio.sleep(0.2)
        lab.advance(61.0)  # the idle connection's 60 s
        assert await closed_by_server(idle, 3.0)
        await allocates_within()
        slow.close()

    lab.cli.run(attack(), timeout=60)


# --- idle timer armed for every new connection ----------------------------------------------

def test_idle_and_stalled_connections_are_closed_on_a_quiet_server(
        lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(real_clock=True, idle_timeout=0.5)

    async def attack() -> None:
        socks = [await connected() for _ in range(20)]
        stalled = await connected()
        header = struct.pack("!HHI", 0x0001, 65532, 0x2112A442) + bytes(12)
        await asyncio.get_running_loop().sock_sendall(stalled, header)
        for s in [*socks, stalled]:
            assert await closed_by_server(s, 3.0)
            s.close()

    lab.cli.run(attack(), timeout=30)


# --- IPv4 written as IPv6 -------------------------------------------------------------------

@pytest.mark.parametrize("peer", ["::ffff:127.0.0.1", "::127.0.0.1"])
def test_a_mapped_loopback_peer_is_refused_with_relay_ip_any(lab_factory: Callable[..., Lab],
                                                             peer: str) -> None:
    lab = lab_factory(relay_ip="::")
    reached: list[bool] = []

    async def loopback_listener() -> asyncio.Server:
        async def hit(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            reached.append(True)
            w.close()
        return await asyncio.start_server(hit, "127.0.0.1", 7001)

    listener = lab.srv.run(loopback_listener())

    async def attack() -> None:
        async with client() as c:
            alloc = await c.allocate()
            assert alloc.relayed[0] == SRV_IN  # the address the client reached, not "::"
            with pytest.raises(TurnError) as err:
                await c.connect((peer, 7001))
            assert err.value.code == 403

    lab.cli.run(attack(), timeout=30)
    lab.srv.loop.call_soon_threadsafe(listener.close)
    assert reached == []
