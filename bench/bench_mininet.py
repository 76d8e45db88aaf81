"""``uclab up`` + ``uclab down`` on the Mininet runtime against the namespace runtime, same
run; and a Mininet script's lab (``Mininet(topo=UclabTopo())`` + ``attach``) beside them.

    sudo nice -n 10 .venv/bin/python bench/bench_mininet.py [--runs 5]

Every side builds the whole default lab (8 nodes, 7 veth pairs, 2 bridges, addresses, routes,
NAT, both firewall policies, PKI, 5 daemons ready) and removes it again. The two runtimes are
timed as a trainee runs them (a new ``uclab`` process for ``up`` and one for ``down``,
imports included); the script side is one process that builds the Mininet network, attaches
the lab, closes it and stops the network. Runs alternate between the sides so that load from
elsewhere on the machine spreads over all of them. Prints medians and the ratios to the
namespace runtime, and the fastest run of each (the one least disturbed by other load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys, time
from mininet.net import Mininet
from lab.mn import UclabTopo, attach
t0 = time.perf_counter()
net = Mininet(topo=UclabTopo(), controller=None)
net.start()
with attach(net, lab=sys.argv[1]):
    t1 = time.perf_counter()
net.stop()
print(t1 - t0, time.perf_counter() - t1)
"""


def timed(argv: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120,
                          check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])}... failed:\n{proc.stdout}{proc.stderr}")
    return seconds, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_mininet: run as root (it builds namespaces)")
    tag = os.getpid() % 100000
    uclab = [sys.executable, "-m", "lab"]
    times: dict[str, list[float]] = {k: [] for k in (
        "netns up", "netns down", "mininet up", "mininet down", "script up", "script down",
        "netns network", "mininet network")}
    for i in range(args.runs):
        for runtime in ("netns", "mininet"):
            lab = f"b{tag}{runtime[0]}{i}"
            seconds, out = timed([*uclab, "up", "--runtime", runtime, "--name", lab, "--json"])
            times[f"{runtime} up"].append(seconds)
            times[f"{runtime} network"].append(json.loads(out)["steps"]["network"])
            times[f"{runtime} down"].append(timed([*uclab, "down", "--name", lab])[0])
        _total, out = timed([sys.executable, "-c", SCRIPT, f"b{tag}s{i}"])
        up, down = (float(x) for x in out.split())
        times["script up"].append(up)
        times["script down"].append(down)
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    print(f"bench_mininet: {args.runs} runs each, the whole default lab (8 nodes, 5 daemons), "
          "medians:")
    for what in ("up", "down"):
        ref = med[f"netns {what}"]
        print(f"  {what:5} namespace runtime {ref * 1000:7.1f} ms   "
              f"mininet runtime {med[f'mininet {what}'] * 1000:7.1f} ms "
              f"(ratio {med[f'mininet {what}'] / ref:4.2f})   "
              f"Mininet script {med[f'script {what}'] * 1000:7.1f} ms "
              f"(ratio {med[f'script {what}'] / ref:4.2f}, in-process)")
    net_ref = med["netns network"]
    print(f"  the network step alone (hosts, links, addresses, routes): namespace runtime "
          f"{net_ref * 1000:.1f} ms, mininet runtime {med['mininet network'] * 1000:.1f} ms "
          f"(ratio {med['mininet network'] / net_ref:4.2f})")
    print("  fastest of the runs (least disturbed by other load on the machine):")
    for what in ("up", "down", "network"):
        ref = best[f"netns {what}"]
        print(f"  {what:8} namespace runtime {ref * 1000:7.1f} ms   mininet runtime "
              f"{best[f'mininet {what}'] * 1000:7.1f} ms (ratio "
              f"{best[f'mininet {what}'] / ref:4.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
