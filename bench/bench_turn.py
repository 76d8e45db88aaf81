"""TURN relay benchmark: bulk TCP peer -> relay -> client through our server, through coturn, and
directly (kernel forwarding on the same veths), for one stream and for many streams at once;
then many concurrent TCP allocations with bound data connections (setup rate and memory).

Run as root from the repository:  .venv/bin/python bench/bench_turn.py [--bytes 1024] ...
It builds its own namespaces (tests/turnhelp.py topology), prints figures and ratios measured in
the same run, removes everything it made and stops by itself (every process is bounded).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.aio.turn_client import TurnClient  # noqa: E402
from lab.kernel.setns import enter_netns  # noqa: E402
from tests.nethelp import NetBench, NsLoop  # noqa: E402
from tests.turnhelp import (  # noqa: E402
    CLI,
    PASSWORD,
    PEER,
    SRV_IN,
    SRV_OUT,
    USER,
    TurnNet,
    build_turn_net,
    coturn,
    uclab_turn_server,
)

MiB = 1 << 20
CHUNK = MiB


def in_namespace(ns: str, fn: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        enter_netns(ns)
        fn()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def send_bulk(target: tuple[str, int], nbytes: int) -> None:
    """Connect (in the calling thread's namespace), wait for the receiver's go byte (so that
    no relay has to buffer data before ConnectionBind), send ``nbytes``, then close."""
    s = socket.create_connection(target, timeout=60)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MiB)
    if s.recv(1) != b"g":
        raise RuntimeError("no go byte from the receiver")
    block = memoryview(bytes(CHUNK))
    left = nbytes
    while left:
        n = min(left, CHUNK)
        s.sendall(block[:n])
        left -= n
    with contextlib.suppress(OSError):
        s.recv(1)  # the receiver closes once it has everything (no FIN racing the data)
    s.close()


def receive_all(sock: socket.socket, expect: int, out: list[int]) -> None:
    sock.setblocking(True)
    sock.settimeout(60)
    sock.sendall(b"g")
    buf = bytearray(CHUNK)
    total = 0
    with contextlib.suppress(OSError):
        while total < expect and (n := sock.recv_into(buf)):
            total += n
    sock.close()
    out.append(total)


def run_streams(net: TurnNet, target: tuple[str, int], streams: int, nbytes: int,
                sockets: Callable[[], list[socket.socket]]) -> float:
    """Start ``streams`` senders in the peer namespace towards ``target``; ``sockets()``
    returns the receiving ends; MiB/s of the whole transfer."""
    per = nbytes // streams
    senders = [in_namespace(net.peer.ns, lambda: send_bulk(target, per)) for _ in range(streams)]
    got: list[int] = []
    receivers = [threading.Thread(target=receive_all, args=(s, per, got)) for s in sockets()]
    start = time.monotonic()  # every connection is set up: from here on, bulk data only
    for t in receivers:
        t.start()
    for t in receivers + senders:
        t.join(300)
    elapsed = time.monotonic() - start
    if sum(got) != per * streams:
        raise RuntimeError(f"received {sum(got)} bytes, expected {per * streams}")
    return per * streams / MiB / elapsed


def direct(net: TurnNet, streams: int, nbytes: int) -> float:
    """The reference: peer -> client routed by the kernel through the server namespace."""
    lsock = NsLoop(net.cli.ns)
    try:
        listener = lsock.run(_listen((CLI, 9000)))

        def accept_all() -> list[socket.socket]:
            return [listener.accept()[0] for _ in range(streams)]

        try:
            return run_streams(net, (CLI, 9000), streams, nbytes, accept_all)
        finally:
            listener.close()
    finally:
        lsock.close()


async def _listen(addr: tuple[str, int]) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    s.listen(1024)
    return s


def relayed(net: TurnNet, streams: int, nbytes: int) -> float:
    """Peer -> relayed address -> (RFC 6062 data connection) -> client."""
    cli = NsLoop(net.cli.ns)
    try:
        client = TurnClient((SRV_IN, 3478), USER, PASSWORD, timeout=30)

        async def setup() -> tuple[str, int]:
            await client.open()
            alloc = await client.allocate()
            await client.create_permission(PEER)
            return alloc.relayed

        relay = cli.run(setup())

        async def bind_all() -> list[socket.socket]:
            out = []
            for _ in range(streams):
                attempt = await client.wait_attempt()
                out.append(await client.bind_socket(attempt.connection_id))
            return out

        rate = run_streams(net, relay, streams, nbytes, lambda: cli.run(bind_all(), 120))
        cli.run(client.close())
        return rate
    finally:
        cli.close()


async def _dial(addr: tuple[str, int]) -> socket.socket:
    s = socket.socket()
    s.setblocking(False)
    await asyncio.get_running_loop().sock_connect(s, addr)
    return s


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for child in Path(f"/proc/{p}/task/{p}/children").read_text().split():
                todo.append(int(child))
    return total


def scale(net: TurnNet, pid: int, count: int) -> tuple[float, int, int]:
    """``count`` TCP allocations, each with a permission, a peer connection and a bound data
    connection, all held at once: (setups per second, server RSS KiB before, after)."""
    before = rss_kib(pid)
    cli, peer = NsLoop(net.cli.ns), NsLoop(net.peer.ns)
    clients = [TurnClient((SRV_IN, 3478), USER, PASSWORD, timeout=60) for _ in range(count)]
    held: list[socket.socket] = []
    limit = asyncio.Semaphore(50)

    async def one(client: TurnClient) -> None:
        async with limit:
            await client.open()
            alloc = await client.allocate()
            await client.create_permission(PEER)
            conn = asyncio.run_coroutine_threadsafe(_dial(alloc.relayed), peer.loop)
            attempt = await client.wait_attempt()
            held.append(await client.bind_socket(attempt.connection_id))
            held.append(await asyncio.wrap_future(conn))

    async def all_of_them() -> None:
        async with asyncio.TaskGroup() as tg:
            for c in clients:
                tg.create_task(one(c))

    try:
        start = time.monotonic()
        cli.run(all_of_them(), timeout=300)
        rate = count / (time.monotonic() - start)
        time.sleep(0.5)
        after = rss_kib(pid)

        async def close_all() -> None:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

        cli.run(close_all(), timeout=120)
    finally:
        for h in held:
            h.close()
        cli.close()
        peer.close()
    return rate, before, after


def forwarding(net: TurnNet) -> None:
    """Routes for the reference path only: peer <-> client through the server namespace."""
    net.bench.forwarding(net.srv)
    net.bench.route(net.cli, "192.168.1.0/24", SRV_IN)
    net.bench.route(net.peer, "10.48.54.0/24", SRV_OUT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--mib", type=int, default=1024, help="MiB per bulk test (default 1024)")
    ap.add_argument("--streams", type=int, default=100, help="concurrent streams (default 100)")
    ap.add_argument("--allocations", type=int, default=1000, help="default 1000")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each throughput test; the best is kept (default 3)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_turn: run as root (it builds network namespaces)", file=sys.stderr)
        return 2
    nbytes = args.mib * MiB
    bench = NetBench()
    rows: list[tuple[str, str, str]] = []
    try:
        net = build_turn_net(bench)
        forwarding(net)

        def best(f: Callable[[TurnNet, int, int], float], streams: int) -> float:
            return max(f(net, streams, nbytes) for _ in range(args.repeat))

        ref1 = best(direct, 1)
        refn = best(direct, args.streams)
        rows.append(("direct (kernel forwarding), 1 stream", f"{ref1:8.0f} MiB/s", "1.00"))
        rows.append((f"direct, {args.streams} streams", f"{refn:8.0f} MiB/s", "1.00"))
        scale_rows: list[tuple[str, float, int, int]] = []
        with uclab_turn_server(net.srv, args.workdir / "bench-turn-uclab.log", min_port=24000,
                               max_port=24000 + args.allocations + 100, lifetime_s=900,
                               extra=("--user-quota", "0")) as p:
            ours1 = best(relayed, 1)
            oursn = best(relayed, args.streams)
            scale_rows.append(("uclab", *scale(net, p.pid, args.allocations)))
        with coturn(net.srv, args.workdir / "bench-turn-coturn.log", min_port=24000,
                    max_port=24000 + args.allocations + 100, lifetime_s=900) as p:
            coturn1 = best(relayed, 1)
            coturnn = best(relayed, args.streams)
            scale_rows.append(("coturn", *scale(net, p.pid, args.allocations)))
        for name, one, many in (("uclab", ours1, oursn), ("coturn 4.6.1", coturn1, coturnn)):
            rows.append((f"{name} relay, 1 stream", f"{one:8.0f} MiB/s", f"{one / ref1:.2f}"))
            rows.append((f"{name} relay, {args.streams} streams", f"{many:8.0f} MiB/s",
                         f"{many / refn:.2f}"))
    finally:
        bench.close()
    print(f"\nTURN relay throughput, {args.mib} MiB per test, best of {args.repeat}, "
          "peer -> relay -> client (ratio = relay / direct)")
    for name, figure, ratio in rows:
        print(f"  {name:<42} {figure}   x{ratio}")
    print(f"\n{args.allocations} concurrent TCP allocations, each with a bound data connection")
    for name, rate, before, after in scale_rows:
        per = (after - before) / args.allocations
        print(f"  {name:<8} setup {rate:7.0f} allocations/s   server RSS {before / 1024:6.1f} -> "
              f"{after / 1024:6.1f} MiB ({per:.1f} KiB per allocation)")
    target = min(ours1 / ref1, oursn / refn)
    print(f"\ntarget: uclab relay within 2x of the direct path -> worst ratio {target:.2f} "
          f"({'met' if target >= 0.5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
