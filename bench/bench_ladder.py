"""How long the ladder takes on a capture of the whole flow, against tshark reading the same file
(the reference, measured in the same run), and how long capturing takes to start and stop.

    .venv/bin/python -m bench.bench_ladder [runs] [capture.pcapng ...]     # capture part: root

For each capture (default: tests/data/ladder/seed-flow-tcp.pcapng, plus any given, e.g. a TLS
one from ``python -m tests.interop.ladderflow out.pcapng tls``) it prints the medians of: the
ladder (read, reassemble, decode, check, rows), the ladder with the JSON/SVG/HTML renderings,
and one ``tshark -r FILE -T fields -e frame.number`` pass, with the ratio ladder / tshark.
As root it also starts and stops a capture of 16 interfaces in 8 namespaces (the lab's size)
and merges it, against starting and stopping a single tcpdump.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lab.capture import LabCapture
from lab.ladder import build_ladder
from lab.ladder.render_html import ladder_html
from lab.ladder.render_json import ladder_json
from tests.nethelp import NetBench

DEFAULT = Path(__file__).resolve().parent.parent / "tests" / "data" / "ladder" / \
    "seed-flow-tcp.pcapng"


def median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tshark_pass(path: Path) -> None:
    subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number"],
                   capture_output=True, timeout=120, check=True)


def bench_ladder(path: Path, runs: int) -> None:
    ladder = build_ladder(path)
    a = ladder.analysis
    print(f"{path.name}: {a.packets} packets on {len(a.interfaces)} interfaces, "
          f"{len(a.events)} messages, TLS decrypted {a.tls_decrypted}; "
          f"{ladder.verdict.summary}")
    t_ladder = median(lambda: build_ladder(path), runs)
    def rendered() -> None:
        built = build_ladder(path)
        ladder_html(built)
        ladder_json(built)

    t_all = median(rendered, runs)
    t_tshark = median(lambda: tshark_pass(path), runs)
    print(f"  ladder                 {t_ladder * 1000:8.1f} ms")
    print(f"  ladder + renderings    {t_all * 1000:8.1f} ms")
    print(f"  tshark one pass (ref)  {t_tshark * 1000:8.1f} ms")
    print(f"  ratio ladder / tshark  {t_ladder / t_tshark:8.2f}")


def bench_capture(runs: int) -> None:
    bench = NetBench()
    try:
        nodes = [bench.node(f"n{i}") for i in range(8)]
        for i in range(8):
            a, b = nodes[i], nodes[(i + 1) % 8]
            bench.segment(f"s{i}", [(a, f"x{i}", f"10.77.{i}.1/24"),
                                    (b, f"y{i}", f"10.77.{i}.2/24")])
        namespaces = {n.name: n.ns for n in nodes}
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            starts, stops, merges = [], [], []
            for _ in range(runs):
                cap = LabCapture(folder / "parts", namespaces)
                t0 = time.perf_counter()
                cap.start()
                t1 = time.perf_counter()
                cap.stop(settle=0.0)
                t2 = time.perf_counter()
                cap.merge(folder / "all.pcapng")
                t3 = time.perf_counter()
                starts.append(t1 - t0)
                stops.append(t2 - t1)
                merges.append(t3 - t2)
            single = LabCapture(folder / "one", {"n0": nodes[0].ns})

            def one() -> None:
                single.start()
                single.stop(settle=0.0)

            ref = median(one, runs)
            interfaces = len(cap.parts)
        print(f"capture of {interfaces} interfaces in {len(nodes)} namespaces")
        print(f"  start (all listening)  {statistics.median(starts) * 1000:8.1f} ms")
        print(f"  stop (flushed)         {statistics.median(stops) * 1000:8.1f} ms")
        print(f"  merge                  {statistics.median(merges) * 1000:8.1f} ms")
        print(f"  one tcpdump start+stop {ref * 1000:8.1f} ms (reference)")
        total = statistics.median(starts) + statistics.median(stops)
        print(f"  ratio all / one        {total / ref:8.2f}")
    finally:
        bench.close()


def main(argv: list[str]) -> None:
    runs = int(argv[1]) if len(argv) > 1 else 5
    paths = [Path(p) for p in argv[2:]] or [DEFAULT]
    for path in paths:
        bench_ladder(path, runs)
    if os.geteuid() == 0:
        bench_capture(runs)
    else:
        print("capture part skipped: namespaces need root")


if __name__ == "__main__":
    main(sys.argv)
