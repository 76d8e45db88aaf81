"""Media over the full relayed path against a direct TCP stream, measured in the same run.

    .venv/bin/python -m bench.bench_media [seconds]

The relayed path is the seed's (tests/icehelp.py): the Skype side's ICE agent in sfb-client,
its TURN relay on the Edge (our TURN server), the TCP connection Edge 192.168.1.252:53577 ->
Expressway-E 192.168.1.229:24000 (our TURN server), the ConnectionBind data connection to CMS.
ICE selects it (every check for real), then the sharer sends RTP PT 127 over RFC 4571 framing:

* throughput: the sharer sends screen updates back to back (``rate_bps=0``), the viewer counts
  what arrives; MB/s of RTP payload;
* latency: a paced 2 Mbit/s share with an RTCP SR every 50 ms; the round-trip time of RFC 3550
  §6.4.1 (``A - LSR - DLSR``) as measured by the sharer, median and minimum.

The reference is the same media endpoints on a plain TCP connection between two namespaces
joined by one veth pair, on the same machine. Prints both and the ratios. Bounded: two
``seconds``-long runs per path (default 3 s), every process and namespace removed at the end.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/ helpers, when run as a script

from lab.aio.ice import IceResult  # noqa: E402
from lab.aio.media import FrameStream, MediaEndpoint, TcpFrameStream  # noqa: E402
from lab.aio.turn_io import connect_tcp, tcp_socket  # noqa: E402
from lab.proto.rtp import MediaStats  # noqa: E402
from tests.icehelp import build_seed_net, edge_turn_config, expe_turn_config, run_pair, serve_turn  # noqa: E402
from tests.nethelp import NetBench, NsLoop, ns_loops  # noqa: E402

LATENCY_RATE = 2_000_000
RTCP_FAST = 0.05


@dataclass
class Figures:
    mbytes_per_s: float
    rtt_median_ms: float
    rtt_min_ms: float
    rtt_samples: int
    setup_s: float | None = None


def _endpoint(stream: FrameStream, role: str, rate: int, rtt: list[float]) -> MediaEndpoint:
    ep = MediaEndpoint(stream, role=role, rate_bps=rate, rtcp_interval=RTCP_FAST)
    if role == "sharer":
        ep.session.rtt_samples = rtt  # the caller reads every sample, not only the summary
    return ep


Pair = tuple[Callable[[FrameStream], Awaitable[MediaStats]],
             Callable[[FrameStream], Awaitable[MediaStats]]]


def _roles(seconds: float, rate: int, rtt: list[float]) -> Pair:
    async def sharer(stream: FrameStream) -> MediaStats:
        return await _endpoint(stream, "sharer", rate, rtt).run(seconds)

    async def viewer(stream: FrameStream) -> MediaStats:
        return await _endpoint(stream, "viewer", LATENCY_RATE, []).run(seconds)
    return sharer, viewer


def relayed(sl: NsLoop, cl: NsLoop, seconds: float, rate: int) -> tuple[MediaStats, list[float],
                                                                         float]:
    rtt: list[float] = []
    sharer, viewer = _roles(seconds, rate, rtt)

    async def on_skype(r: IceResult) -> MediaStats:
        return await sharer(r.stream)

    async def on_cms(r: IceResult) -> MediaStats:
        return await viewer(r.stream)
    skype, _cms, _sent, seen = run_pair(sl, cl, media_skype=on_skype, media_cms=on_cms,
                                        timeout=seconds + 30)
    if skype.result is None or not isinstance(seen, MediaStats):
        raise SystemExit(f"ICE failed on the relayed path: {skype.failure}")
    return seen, rtt, skype.checks_s


def direct(la: NsLoop, lb: NsLoop, seconds: float, rate: int) -> tuple[MediaStats, list[float]]:
    rtt: list[float] = []
    sharer, viewer = _roles(seconds, rate, rtt)

    async def serve() -> MediaStats:
        listener = tcp_socket(("10.97.0.2", 40000))
        listener.listen(1)
        try:
            sock, _ = await asyncio.get_running_loop().sock_accept(listener)
        finally:
            listener.close()
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 16)
        stream = TcpFrameStream(reader, writer)
        try:
            return await viewer(stream)
        finally:
            await stream.close()

    async def call() -> MediaStats:
        sock = await connect_tcp(("10.97.0.2", 40000), ("10.97.0.1", 0))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 16)
        stream = TcpFrameStream(reader, writer)
        try:
            return await sharer(stream)
        finally:
            await stream.close()

    seen_f = asyncio.run_coroutine_threadsafe(serve(), lb.loop)
    time.sleep(0.2)
    la.run(call(), timeout=seconds + 30)
    return seen_f.result(30), rtt


def figures(seen: MediaStats, rtt: list[float], setup: float | None = None) -> Figures:
    ms = [x * 1000 for x in rtt] or [float("nan")]
    return Figures(seen.received_bytes / max(seen.duration_s, 1e-9) / 1e6,
                   statistics.median(ms), min(ms), len(rtt), setup)


def main(seconds: float) -> None:
    logging.basicConfig(level=logging.ERROR)  # the TURN servers log each refused Connect
    bench = NetBench()
    try:
        net = build_seed_net(bench)
        a, b = bench.node("ref-a"), bench.node("ref-b")
        bench.segment("ref", [(a, "eth0", "10.97.0.1/24"), (b, "eth0", "10.97.0.2/24")])
        with ns_loops(net.edge.ns, net.expe.ns, net.client.ns, net.cms.ns, a.ns, b.ns) as (
                edge, expe, sl, cl, la, lb):
            serve_turn(edge, net.edge, edge_turn_config())
            serve_turn(expe, net.expe, expe_turn_config())
            seen, _, setup = relayed(sl, cl, seconds, 0)
            r_tp = figures(seen, [], setup)
            seen, rtt, _ = relayed(sl, cl, seconds, LATENCY_RATE)
            r_lat = figures(seen, rtt)
            seen, _ = direct(la, lb, seconds, 0)
            d_tp = figures(seen, [])
            seen, rtt = direct(la, lb, seconds, LATENCY_RATE)
            d_lat = figures(seen, rtt)
    finally:
        bench.close()
    report(seconds, r_tp, r_lat, d_tp, d_lat)


def report(seconds: float, r_tp: Figures, r_lat: Figures, d_tp: Figures, d_lat: Figures) -> None:
    print(f"media over RFC 4571 / RTP PT 127, {seconds:g} s per run, same machine")
    print(f"{'path':<44}{'MB/s':>9}{'RTT median ms':>15}{'RTT min ms':>12}{'samples':>9}")
    rows = [("relayed: client > Edge relay > Exp-E relay > CMS", r_tp, r_lat),
            ("direct TCP, one veth", d_tp, d_lat)]
    for name, tp, lat in rows:
        print(f"{name:<44}{tp.mbytes_per_s:>9.1f}{lat.rtt_median_ms:>15.3f}"
              f"{lat.rtt_min_ms:>12.3f}{lat.rtt_samples:>9}")
    print(f"ratio relayed/direct: throughput {r_tp.mbytes_per_s / d_tp.mbytes_per_s:.2f}, "
          f"RTT median {r_lat.rtt_median_ms / d_lat.rtt_median_ms:.2f}")
    if r_tp.setup_s is not None:
        print(f"ICE on the relayed path (set_remote to selected pair, 6 pairs): "
              f"{r_tp.setup_s * 1000:.1f} ms")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)
