"""The long fuzz run: each target of tests/fuzztargets.py under atheris (libFuzzer, coverage
guided over the lab package), one process per target, seeded from the test data; an input that
raises anything but the codec's declared error, or takes over ``--timeout`` seconds, is a
finding, written to the work directory (copy it to tests/data/fuzz/<target>/ as a regression
input).

    nice -n 10 .venv/bin/python bench/fuzz.py --runs 1000000            every target
    nice -n 10 .venv/bin/python bench/fuzz.py --runs 20000 --target sdp  one target

Prints, per target: inputs run, seconds, inputs per second, findings.
"""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(name: str, corpus: Path, argv: list[str]) -> None:
    """Run one target under atheris in this process (does not return)."""
    import atheris  # type: ignore[import-untyped]  # noqa: PLC0415

    sys.path.insert(0, str(ROOT))
    logging.disable(logging.CRITICAL)
    with atheris.instrument_imports(include=["lab"]):
        from tests.fuzztargets import TARGETS  # noqa: PLC0415
    target = TARGETS[name]
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(target.seeds()):
        (corpus / f"seed-{i}").write_bytes(seed)
    for path in target.regressions():
        (corpus / path.name).write_bytes(path.read_bytes())
    atheris.Setup([sys.argv[0], *argv, str(corpus)], target.run)
    atheris.Fuzz()


def run_one(name: str, runs: int, timeout: float, work: Path) -> tuple[int, float, int, str]:
    """(inputs run, seconds, findings, first finding's line) for one target."""
    out = work / name
    out.mkdir(parents=True, exist_ok=True)
    argv = [f"-runs={runs}", f"-timeout={int(timeout)}", f"-artifact_prefix={out}/",
            "-print_final_stats=1", "-max_len=65536"]
    start = time.monotonic()
    proc = subprocess.run([sys.executable, __file__, "--child", name, "--corpus",
                           str(out / "corpus"), "--", *argv],
                          capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    log = proc.stdout + proc.stderr
    (out / "fuzz.log").write_text(log)
    done = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    executed = int(done[-1]) if done else 0
    crashes = [p for p in out.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))]
    first = next((ln for ln in log.splitlines() if "Error" in ln or "Uncaught" in ln), "")
    return executed, seconds, len(crashes), first


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1_000_000, help="inputs per target")
    ap.add_argument("--target", action="append", help="only this target (repeatable)")
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds per input at most")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.corpus, args.rest)
        return 0
    sys.path.insert(0, str(ROOT))
    from tests.fuzztargets import TARGETS  # noqa: PLC0415

    names = args.target or sorted(TARGETS)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="uclab-fuzz-"))
    print(f"fuzzing {len(names)} targets, {args.runs} inputs each, at most {args.timeout:g} s "
          f"per input; findings in {work}")
    print(f"  {'target':<14}{'inputs':>10}{'seconds':>10}{'inputs/s':>10}  findings")
    total = 0
    for name in names:
        executed, seconds, found, first = run_one(name, args.runs, args.timeout, work)
        total += found
        rate = executed / seconds if seconds else 0.0
        print(f"  {name:<14}{executed:>10}{seconds:>10.1f}{rate:>10.0f}  {found} {first}",
              flush=True)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
