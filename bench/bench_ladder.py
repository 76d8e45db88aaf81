"""How long the ladder takes on a capture of the whole flow, against tshark reading the same file
(the reference, measured in the same run), and how long capturing takes to start and stop.

    .venv/bin/python bench/bench_ladder.py [runs] [capture.pcapng ...]     # capture part: root
    .venv/bin/python bench/bench_ladder.py --big 1000    # a generated 1000 MB capture, in /tmp

For each capture (default: tests/data/ladder/seed-flow-tcp.pcapng, plus any given, e.g. a TLS
one from ``python -m tests.interop.ladderflow out.pcapng tls``) it prints the medians of: the
ladder (read, reassemble, decode, check, rows), the ladder with the JSON/SVG/HTML renderings,
and one ``tshark -r FILE -T fields -e frame.number`` pass, with the ratio ladder / tshark.
As root it also starts and stops a capture of 16 interfaces in 8 namespaces (the lab's size)
and merges it, against starting and stopping a single tcpdump.

``--big MB`` instead generates a capture of about MB megabytes of mostly unrelated traffic
around the share (bench/bigcapture.py, in a temporary folder under /tmp, removed after) and
runs the ladder and one tshark pass over it, each once in its own process: wall and CPU time,
the ratios, and each one's peak resident memory (``wait4``'s ru_utime, ru_stime, ru_maxrss).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root is the import root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bigcapture import generate
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


ROOT = Path(__file__).resolve().parent.parent
#: the ladder's process imports this checkout's lab, as this script does
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}


def _measured(argv: list[str]) -> tuple[float, float, int]:
    """Wall time (s), CPU time (s, user + system) and peak RSS (bytes) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(f"{argv[:3]} failed ({status})")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def bench_big(megabytes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="uclab-bench-", dir="/tmp") as tmp:
        path = Path(tmp) / "big.pcapng"
        packets = generate(path, megabytes, DEFAULT)
        size = path.stat().st_size
        ladder = [sys.executable, "-c", "import sys; from lab.ladder import build_ladder; "
                  "l = build_ladder(sys.argv[1]); print(l.verdict.summary)", str(path)]
        summary = subprocess.run(ladder, capture_output=True, text=True, check=True,
                                 timeout=3600, env=ENV).stdout.strip()
        print(f"generated capture: {packets} packets, {size / 1e6:.0f} MB (the share in the "
              f"middle of unrelated traffic); {summary}", flush=True)
        t_ladder, cpu_ladder, rss_ladder = _measured(ladder)
        print(f"  ladder                 {t_ladder:8.1f} s (CPU {cpu_ladder:6.1f} s)   peak RSS "
              f"{rss_ladder / 1e6:6.0f} MB", flush=True)
        t_tshark, cpu_tshark, rss_tshark = _measured(["tshark", "-r", str(path), "-T", "fields",
                                                      "-e", "frame.number"])
    print(f"  tshark one pass (ref)  {t_tshark:8.1f} s (CPU {cpu_tshark:6.1f} s)   peak RSS "
          f"{rss_tshark / 1e6:6.0f} MB")
    print(f"  ratio ladder / tshark  {t_ladder / t_tshark:8.2f} (CPU {cpu_ladder / cpu_tshark:.2f})"
          f"   memory / file size {rss_ladder / size:.2f}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("runs", nargs="?", type=int, default=5)
    parser.add_argument("captures", nargs="*", type=Path)
    parser.add_argument("--big", type=int, metavar="MB",
                        help="generate a capture of about MB megabytes and measure only that")
    args = parser.parse_args(argv[1:])
    if args.big:
        bench_big(args.big)
        return
    runs = args.runs
    paths = args.captures or [DEFAULT]
    for path in paths:
        bench_ladder(path, runs)
    if os.geteuid() == 0:
        bench_capture(runs)
    else:
        print("capture part skipped: namespaces need root")


if __name__ == "__main__":
    main(sys.argv)
