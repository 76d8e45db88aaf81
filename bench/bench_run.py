"""How fast ``uclab run screen-share`` is, from nothing to verdict and teardown, and how long the
call takes to set up on the wire; where the time goes. As root:

    .venv/bin/python bench/bench_run.py [--runs 5] [--media-seconds 1.0]

Each run is the real command in a new process (``python -m lab run screen-share``: Python
start-up and imports included), on a lab it builds and removes. Call set-up time is read from
the run's capture (its ``--json``): the share INVITE leaving the Skype Edge (step 1) to the
first media packet on the bridged path (step 33), with the milestones in between. The
reference, measured in the same run: the same lab's network alone (``uclab up --no-daemons``
then ``uclab down``), the floor under which no run can go. Prints medians.
Targets: the whole run under 3 s, set-up under 300 ms, on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAB = "benchrun"

#: set-up milestones: (label, step whose time ends the span)
MILESTONES = [("200 OK at the Edge (3 hops, CMS's TURN allocation)", 13),
              ("the Edge connects to the relayed address (ICE pacing)", 17),
              ("the last ICE check answered", 23),
              ("the re-INVITE's ACK reaches CMS (3 hops)", 32)]


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    return time.perf_counter() - t0, proc


def one_run(media: float, folder: Path) -> tuple[float, dict[str, Any]]:
    out = folder / "run.json"
    seconds, proc = timed([sys.executable, "-m", "lab", "run", "screen-share", "--name", LAB,
                           "--json", str(out), "--media-seconds", str(media)])
    if proc.returncode != 0:
        sys.exit(f"bench_run: the run failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}"
                 f"\n{proc.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(out.read_text())
    return seconds, data


def setup_times(data: dict[str, Any]) -> dict[str, float]:
    """Seconds from step 1 to each milestone and to the first media packet (step 33)."""
    steps = {s["number"]: s["time"] for s in data["steps"]}
    start = steps[1]
    out = {f"to step {n}": steps[n] - start for _label, n in MILESTONES}
    out["INVITE to first media packet"] = steps[33] - start
    return out


def reference() -> float:
    up, proc = timed([sys.executable, "-m", "lab", "up", "--name", LAB, "--no-daemons",
                      "--json"])
    if proc.returncode != 0:
        sys.exit(f"bench_run: uclab up failed: {proc.stderr}")
    down, proc = timed([sys.executable, "-m", "lab", "down", "--name", LAB])
    if proc.returncode != 0:
        sys.exit(f"bench_run: uclab down failed: {proc.stderr}")
    return up + down


def imports() -> float:
    """One interpreter importing every daemon's stack (what the launcher pays once)."""
    seconds, _ = timed([sys.executable, "-c", "import nodes.cms, nodes.sfb_client, "
                        "nodes.sfb_edge, nodes.expressway_e, nodes.expressway_c"])
    return seconds


def med(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--media-seconds", type=float, default=None,
                        help="media time (default: the scenario's)")
    args = parser.parse_args()
    media = args.media_seconds
    if media is None:
        from lab import scenario  # noqa: PLC0415

        media = scenario.load("screen-share").media.seconds
    walls: list[float] = []
    refs: list[float] = []
    imps: list[float] = []
    phases: dict[str, list[float]] = {}
    setups: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            refs.append(reference())
            imps.append(imports())
            wall, data = one_run(media, Path(tmp))
            walls.append(wall)
            for key, value in data["run"]["timings"].items():
                phases.setdefault(key, []).append(value)
            phases.setdefault("CLI start-up and printing", []).append(
                wall - data["run"]["timings"]["total"])
            for key, value in setup_times(data).items():
                setups.setdefault(key, []).append(value)
    whole, setup = med(walls), med(setups["INVITE to first media packet"])
    print(f"bench_run: {args.runs} runs of `uclab run screen-share` (media {media:g} s), "
          f"medians:")
    print(f"  whole run, nothing to verdict and teardown  {whole:6.2f} s   "
          f"(min {min(walls):.2f}, max {max(walls):.2f})")
    print(f"  call set-up, INVITE to first media packet   {setup * 1000:6.0f} ms  "
          f"(from the capture)")
    print(f"  reference: the network alone, up + down     {med(refs):6.2f} s   ratio run/ref "
          f"{whole / med(refs):5.2f}")
    print(f"  reference: importing the daemons' stacks    {med(imps):6.2f} s   "
          f"(paid once, by the launcher, while the network is built)")
    print("  where the run's time goes (medians; 'lab down' runs beside 'ladder'):")
    for key, values in phases.items():
        if key != "total":
            print(f"    {key:38} {med(values) * 1000:7.0f} ms")
    print("  set-up on the wire, from the INVITE leaving the Edge (step 1):")
    for (label, n), key in zip(MILESTONES, list(setups)[:-1], strict=True):
        print(f"    step {n:2} {label:56} +{med(setups[key]) * 1000:5.0f} ms")
    print(f"    step 33 {'the first media packet (CMS sends once ICE completes)':56} "
          f"+{setup * 1000:5.0f} ms")
    within = med(walls) - media
    print(f"  targets: whole run < 3 s ({'met' if whole < 3 else 'MISSED'}; {within:.2f} s "
          f"without the media time), set-up < 300 ms "
          f"({'met' if setup < 0.3 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
