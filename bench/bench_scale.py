"""What one lab, one run and the scenario library cost on this machine, and how the library's wall
time changes with 1, 2 and 4 shards run side by side. As root:

    nice -n 10 .venv/bin/python bench/bench_scale.py [--shards 1,2,4] [--idle 5] [--skip-shards]

Every measured command runs in a cgroup of its own (cgroup v1 ``memory`` + ``cpuacct``, as a
container runtime accounts a pod): CPU seconds are the cgroup's ``cpuacct.usage`` (every
process of the lab: CLI, launcher, daemons, tcpdump, tshark), memory its peak
``memory.max_usage_in_bytes`` (resident memory and page cache the commands caused: captures
included). Measured, in order:

1. a lab kept up (``uclab up``) and left idle for ``--idle`` seconds: its memory and CPU, what
   one classroom seat costs while nobody uses it;
2. ``uclab run screen-share`` on that lab (what a trainee's share costs), then ``uclab down``;
3. ``uclab run screen-share`` building and removing its own lab (one scenario of a CI shard);
4. the library, ``uclab run --all --shard K/N`` for every K at once, for each N of
   ``--shards``: wall time until the last shard ends, each shard's CPU and peak memory, and
   ``uclab junit merge`` of the shards' JUnit files (its line: every case once). The
   reference is N = 1, measured in the same run.

Bounds: every command has a timeout (``--timeout``, default 400 s); the cgroups are removed at
the end, the labs by the commands themselves (``b16*`` names). Prints a table; ``--json FILE``
writes the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CGROUP = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "cpuacct")


@dataclass
class Cost:
    what: str
    wall_s: float
    cpu_s: float
    peak_mib: float
    ok: bool


@dataclass
class ShardSet:
    n: int
    wall_s: float
    shards: list[Cost]
    merge: str
    load_after: tuple[float, float, float]


class Group:
    """One cgroup v1 pair (memory, cpuacct) made for one measurement and removed after."""

    def __init__(self, name: str) -> None:
        self.dirs = [CGROUP / c / name for c in CONTROLLERS]
        for d in self.dirs:
            d.mkdir()

    def join(self) -> None:
        """Run in the child before exec: it and every descendant are accounted here."""
        for d in self.dirs:
            (d / "cgroup.procs").write_text(str(os.getpid()))

    def cpu_s(self) -> float:
        return int((self.dirs[1] / "cpuacct.usage").read_text()) / 1e9

    def peak_mib(self) -> float:
        return int((self.dirs[0] / "memory.max_usage_in_bytes").read_text()) / 2**20

    def usage_mib(self) -> float:
        return int((self.dirs[0] / "memory.usage_in_bytes").read_text()) / 2**20

    def remove(self) -> None:
        for d in self.dirs:
            with contextlib.suppress(OSError):
                d.rmdir()


@contextlib.contextmanager
def group(name: str) -> Iterator[Group]:
    g = Group(f"uclab-bench-{os.getpid()}-{name}")
    try:
        yield g
    finally:
        g.remove()


def uclab(g: Group, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "lab", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=g.join)  # noqa: PLW1509 - the cgroup must be joined pre-exec


def finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the command removes its lab on the way out; `uclab down` if not
        out, _ = proc.communicate(timeout=30)
        return -1, f"timed out after {timeout:g} s\n{out}"
    return proc.returncode, out


def measure(what: str, g: Group, args: list[str], timeout: float) -> Cost:
    cpu0, t0 = g.cpu_s(), time.perf_counter()
    code, out = finish(uclab(g, *args), timeout)
    if code != 0:
        print(f"{what}: exit {code}\n{out[-2000:]}", file=sys.stderr)
    return Cost(what, time.perf_counter() - t0, g.cpu_s() - cpu0, g.peak_mib(), code == 0)


def one_lab(idle: float, timeout: float) -> list[Cost]:
    costs = []
    with group("lab") as g:
        costs.append(measure("uclab up (a seat's lab)", g, ["up", "--name", "b16up"], timeout))
        cpu0 = g.cpu_s()
        time.sleep(idle)
        costs.append(Cost(f"the lab idle for {idle:g} s", idle, g.cpu_s() - cpu0,
                          g.usage_mib(), True))
        costs.append(measure("uclab run screen-share on it", g,
                             ["run", "screen-share", "--name", "b16up"], timeout))
        costs.append(measure("uclab down", g, ["down", "--name", "b16up"], timeout))
    with group("run") as g:
        costs.append(measure("uclab run screen-share (own lab)", g,
                             ["run", "screen-share", "--name", "b16run"], timeout))
    return costs


def shards(n: int, timeout: float, folder: Path) -> tuple[float, list[Cost], str]:
    """The library as n shards at once: wall time to the last, each shard's cost, and the
    line of ``uclab junit merge`` over their JUnit files."""
    with contextlib.ExitStack() as stack:
        groups = [stack.enter_context(group(f"s{n}-{k}")) for k in range(1, n + 1)]
        t0 = time.perf_counter()
        procs = [uclab(g, "run", "--all", "--shard", f"{k}/{n}", "--name", f"b16s{n}k{k}",
                       "--junit", str(folder / f"n{n}-shard-{k}.xml"))
                 for k, g in enumerate(groups, start=1)]
        costs = []
        for k, (g, proc) in enumerate(zip(groups, procs, strict=True), start=1):
            code, out = finish(proc, timeout)
            if code != 0:
                print(f"shard {k}/{n}: exit {code}\n{out[-3000:]}", file=sys.stderr)
            costs.append(Cost(f"shard {k}/{n}", time.perf_counter() - t0, g.cpu_s(),
                              g.peak_mib(), code == 0))
        wall = time.perf_counter() - t0
    merge = subprocess.run([sys.executable, "-m", "lab", "junit", "merge",
                            str(folder / f"n{n}-merged.xml"),
                            *(str(folder / f"n{n}-shard-{k}.xml") for k in range(1, n + 1))],
                           cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    return wall, costs, (merge.stdout + merge.stderr).strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shards", default="1,2,4", help="the N to run (default 1,2,4)")
    ap.add_argument("--idle", type=float, default=5.0, help="seconds the kept lab idles")
    ap.add_argument("--timeout", type=float, default=400.0, help="bound of every command")
    ap.add_argument("--skip-shards", action="store_true", help="only the lab and one run")
    ap.add_argument("--json", type=Path, help="write the figures")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_scale: run as root (namespaces, cgroups)", file=sys.stderr)
        return 2
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"{os.cpu_count()} CPUs; nice {os.nice(0)}")
    costs = one_lab(args.idle, args.timeout)
    for c in costs:
        print(f"{c.what:36} wall {c.wall_s:6.2f} s  CPU {c.cpu_s:6.2f} s  "
              f"memory {c.peak_mib:6.1f} MiB{'' if c.ok else '  FAILED'}")
    report: dict[str, object] = {"load_before": load, "lab": [asdict(c) for c in costs]}
    if not args.skip_shards:
        with tempfile.TemporaryDirectory(prefix="uclab-bench-scale-") as tmp:
            rows = [ShardSet(n, *shards(n, args.timeout, Path(tmp)), os.getloadavg())
                    for n in (int(x) for x in args.shards.split(","))]
        ref = rows[0].wall_s
        print(f"\n{'shards':>6} {'wall s':>8} {'speed-up':>9} {'CPU s (sum)':>12} "
              f"{'peak MiB (max)':>15}  all pass  load after")
        for r in rows:
            print(f"{r.n:>6} {r.wall_s:8.1f} {ref / r.wall_s:9.2f} "
                  f"{sum(c.cpu_s for c in r.shards):12.1f} "
                  f"{max(c.peak_mib for c in r.shards):15.1f}  {all(c.ok for c in r.shards)!s:8}"
                  f"  {r.load_after[0]:.2f}")
        for r in rows:
            print(f"N = {r.n}: uclab junit merge: {r.merge}")
        report["shards"] = [asdict(r) for r in rows]
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
