"""How fast ``uclab up`` / ``uclab down`` are, against a plain ip/nft shell script, same run.

    sudo .venv/bin/python bench/bench_lab.py [--runs 7]

Both sides build the same thing from the default topology: 8 namespaces, 7 veth pairs (peers
born in their namespace), 2 bridges, addresses, the client's default route, the sysctls, the
NAT ruleset and both firewall policies. ``uclab`` is timed as the trainee runs it (a new
process each time, imports included); the reference is ``sh`` running ``ip``/``nft`` commands
generated from the same topology. Prints medians and the ratio uclab / shell.
Targets: up under 1 s, down under 0.5 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab import topology
from lab.base.names import namespace
from lab.lifecycle import network
from lab.rulesets.render import nat_ruleset
from lab.topology import Topology

ROOT = Path(__file__).resolve().parent.parent


def shell_up(topo: Topology, lab: str, folder: Path) -> str:
    """The ip/nft commands that build the same lab."""
    ns = {n.name: namespace(lab, n.name) for n in topo.nodes}
    lines = ["set -e"]
    for node in topo.nodes:
        lines.append(f"ip netns add {ns[node.name]}")
        for key, value in network.node_sysctls(node).items():
            lines.append(f"ip netns exec {ns[node.name]} sysctl -qw {key}={value}")
        lines.append(f"ip -n {ns[node.name]} link set lo up")
    for seg in topo.segments:
        if seg.bridge is None:
            a, b = seg.endpoints
            lines.append(f"ip -n {ns[a.node]} link add {a.interface} type veth peer name "
                         f"{b.interface} netns {ns[b.node]}")
            continue
        lines.append(f"ip -n {ns[seg.bridge]} link add {seg.name} type bridge")
        lines.append(f"ip -n {ns[seg.bridge]} link set {seg.name} up")
        for e in seg.endpoints:
            lines.append(f"ip -n {ns[e.node]} link add {e.interface} type veth peer name "
                         f"{e.node} netns {ns[seg.bridge]}")
            lines.append(f"ip -n {ns[seg.bridge]} link set {e.node} master {seg.name} up")
    for node in topo.nodes:
        for i in node.interfaces:
            if i.address is not None:
                lines.append(f"ip -n {ns[node.name]} addr add {i.address} dev {i.name}")
                lines.append(f"ip -n {ns[node.name]} link set {i.name} up")
        for r in node.routes:
            lines.append(f"ip -n {ns[node.name]} route add {r.dst} via {r.via}")
        if node.nat is not None:
            rules = folder / f"{node.name}.nft"
            rules.write_text(nat_ruleset(node))
            lines.append(f"ip netns exec {ns[node.name]} nft -f {rules}")
        if node.policy is not None:
            lines.append(f"ip netns exec {ns[node.name]} nft -f {node.policy}")
    return "\n".join(lines) + "\n"


def shell_down(topo: Topology, lab: str) -> str:
    return "\n".join(f"ip netns del {namespace(lab, n.name)}" for n in topo.nodes) + "\n"


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=60,
                          check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])}... failed: {proc.stderr.strip()}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_lab: run as root (it builds namespaces)")
    topo = topology.load()
    tag = os.getpid() % 100000
    lab, ref = f"b{tag}", f"r{tag}"
    uclab = [sys.executable, "-m", "lab"]
    times: dict[str, list[float]] = {"uclab up": [], "uclab down": [], "shell up": [],
                                     "shell down": []}
    with tempfile.TemporaryDirectory() as tmp:
        up_script, down_script = Path(tmp) / "up.sh", Path(tmp) / "down.sh"
        up_script.write_text(shell_up(topo, ref, Path(tmp)))
        down_script.write_text(shell_down(topo, ref))
        for _ in range(args.runs):
            # the network only: what the shell script builds too (no PKI, no daemons)
            times["uclab up"].append(timed([*uclab, "up", "--name", lab, "--json",
                                            "--no-daemons"]))
            times["uclab down"].append(timed([*uclab, "down", "--name", lab]))
            times["shell up"].append(timed(["sh", str(up_script)]))
            times["shell down"].append(timed(["sh", str(down_script)]))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"bench_lab: {args.runs} runs each, default topology ({len(topo.nodes)} namespaces, "
          f"{len(topo.segments)} segments), medians:")
    for what in ("up", "down"):
        ours, theirs = med[f"uclab {what}"], med[f"shell {what}"]
        print(f"  {what:5} uclab {ours * 1000:7.1f} ms   ip/nft shell script "
              f"{theirs * 1000:7.1f} ms   ratio uclab/shell {ours / theirs:5.2f}")
    print(f"  targets: up < 1000 ms ({'met' if med['uclab up'] < 1 else 'MISSED'}), "
          f"down < 500 ms ({'met' if med['uclab down'] < 0.5 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
