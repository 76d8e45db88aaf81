"""``uclab scenarios`` and ``uclab run --all``: the scenario library, listed and run (rich).

``--all`` reads every scenario first (a bad file stops everything before any lab is built),
then runs them one after the other, each in a lab of its own that the run removes, prints one
line per scenario as it ends and a summary table; ``--junit FILE`` writes one test case per
scenario (failure: the expectations that did not hold; system-out: the verdict and the
diagnosis), ``--json FILE`` the summary. ``--shard K/N`` runs only the K-th of N slices of the
library (:mod:`lab.scenario.shard`); its JUnit suite carries the property ``shard = K/N`` for
``uclab junit merge``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import scenario
from lab.base import junit as junit_xml
from lab.base.errors import InputError, UclabError
from lab.base.names import RUN_ROOT
from lab.run import RunOptions, RunPlan, RunResult, run
from lab.scenario import Scenario
from lab.scenario.shard import Shard


def expects(sc: Scenario) -> str:
    """``pass`` or ``fail at step 9`` (what the scenario must produce)."""
    e = sc.expect
    return e.verdict if e.stopped_at is None else f"{e.verdict} at step {e.stopped_at}"


def list_scenarios() -> int:
    """One line per scenario: name, expectation, description. A file that does not load is
    listed with its error (exit code 2)."""
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    for col in ("scenario", "expects", "description"):
        table.add_column(col, no_wrap=col != "description")
    code = 0
    for name in scenario.names():
        try:
            sc = scenario.load(name)
        except InputError as exc:
            table.add_row(name, "[red]invalid[/]", str(exc))
            code = 2
            continue
        table.add_row(sc.name, expects(sc), sc.description)
    console = Console(width=None if Console().is_terminal else 160)
    console.print(table, highlight=False)
    console.print(f"\n{len(scenario.names())} scenarios in {scenario.SCENARIO_DIR}; run one with "
                  "`uclab run NAME`, all with `uclab run --all`", highlight=False)
    return code


@dataclass
class Outcome:
    """One scenario of ``--all``: its result, or the error that stopped it."""

    scenario: Scenario
    result: RunResult | None = None
    error: str | None = None
    seconds: float = 0.0
    unmet: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.error is None and self.result is not None and self.result.passed

    def got(self) -> str:
        if self.result is None or self.result.ladder is None:
            return "error"
        v = self.result.ladder.verdict
        verdict = "pass" if v.passed and not self.result.outcome.problems else "fail"
        return verdict if v.stopped_at is None else f"{verdict} at step {v.stopped_at}"


def _refuse_single_outputs(args: argparse.Namespace) -> None:
    for flag in ("pcap", "svg", "html"):
        if getattr(args, flag) is not None:
            raise InputError(f"--{flag} is for one scenario, not --all", f"--{flag}",
                             fix="run that scenario alone: uclab run NAME --" + flag + " FILE")
    if args.keep:
        raise InputError("--keep is for one scenario, not --all", "--keep",
                         fix="run that scenario alone with --keep")
    if args.fault:
        raise InputError("--fault is for one scenario, not --all", "--fault",
                         fix="run that scenario alone: uclab run NAME --fault SPEC")


def run_all(args: argparse.Namespace) -> int:
    """Every scenario of the library (see the module docstring)."""
    from lab.daemons.launcher import prelaunch  # noqa: PLC0415

    _refuse_single_outputs(args)
    for path in (args.json, args.junit):
        if path is not None and not path.parent.is_dir():
            raise InputError("no such folder", path, fix="create the folder or change the path")
    shard = Shard.parse(args.shard) if args.shard is not None else None
    # every file is read, this shard's or not: a bad one stops every shard before any lab
    library = {name: scenario.load(name) for name in scenario.names()}
    scenarios = [library[n] for n in (shard.select(library) if shard else library)]
    if shard is not None:
        print(f"shard {shard}: {len(scenarios)} of {len(library)} scenarios: "
              + (", ".join(sc.name for sc in scenarios) or "none"))
    if (RUN_ROOT / args.name).exists():
        raise InputError(f"lab {args.name} exists; --all builds a lab of its own per scenario",
                         "--name", fix=f"`uclab down --name {args.name}` first, or give "
                         "another --name")
    outcomes = []
    for sc in scenarios:
        launcher = prelaunch(args.name)
        try:
            outcomes.append(_one(sc, args))
        finally:
            launcher.close()
        _print_line(outcomes[-1])
    print_summary(outcomes)
    from lab.cli import wrote  # noqa: PLC0415

    if args.junit is not None:
        args.junit.write_text(junit(outcomes, shard), encoding="utf-8")
        wrote("JUnit XML", args.junit)
    if args.json is not None:
        rows = [{**summary_json(o), "shard": str(shard) if shard else None} for o in outcomes]
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        wrote("the summary as JSON", args.json)
    if any(o.error is not None for o in outcomes):
        return 2
    return 0 if all(o.passed for o in outcomes) else 1


def _one(sc: Scenario, args: argparse.Namespace) -> Outcome:
    from lab.cli import progress  # noqa: PLC0415

    t0 = time.perf_counter()
    out = Outcome(sc)
    try:
        out.result = run(RunPlan.of(sc, media_seconds=args.media_seconds),
                         RunOptions(lab=args.name, progress=progress,
                                    runtime=args.runtime))
        out.unmet = out.result.unmet
    except UclabError as exc:
        out.error = str(exc)
    out.seconds = time.perf_counter() - t0
    return out


def _print_line(o: Outcome) -> None:
    from rich.console import Console  # noqa: PLC0415

    mark = "[green]PASS[/]" if o.passed else "[bold red]FAIL[/]"
    Console(highlight=False, soft_wrap=True).print(
        f"{mark} {o.scenario.name}: expected {expects(o.scenario)}, got {o.got()} "
        f"({o.seconds:.1f} s)" + "".join(f"\n     {line}" for line in o.unmet)
        + (f"\n     error: {o.error}" if o.error else ""))


def _first_finding(o: Outcome) -> str:
    r = o.result
    if r is None or r.ladder is None:
        return o.error or ""
    lines = [*r.diagnosis, *r.ladder.verdict.reasons]
    return lines[0] if lines else r.ladder.verdict.summary


def print_summary(outcomes: list[Outcome]) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="scenarios", title_justify="left")
    for col in ("scenario", "expected", "got", "result", "time", "time scale",
                "diagnosis (first line)"):
        table.add_column(col, overflow="fold")
    for o in outcomes:
        table.add_row(o.scenario.name, expects(o.scenario), o.got(),
                      "[green]PASS[/]" if o.passed else "[bold red]FAIL[/]", f"{o.seconds:.1f} s",
                      f"{o.scenario.time_scale:g}" if o.scenario.time_scale != 1 else "",
                      _first_finding(o))
    console = Console(highlight=False, width=None if Console().is_terminal else 180)
    console.print(table)
    passed = sum(o.passed for o in outcomes)
    total = sum(o.seconds for o in outcomes)
    console.print(f"{passed} of {len(outcomes)} scenarios hold their expectations "
                  f"({total:.1f} s)")


def summary_json(o: Outcome) -> dict[str, Any]:
    r = o.result
    return {"scenario": o.scenario.name, "file": str(o.scenario.path),
            "expected": expects(o.scenario), "got": o.got(), "passed": o.passed,
            "unmet": o.unmet, "error": o.error, "seconds": round(o.seconds, 3),
            "time_scale": o.scenario.time_scale,
            "diagnosis": [*r.ladder.verdict.reasons, *r.diagnosis] if r and r.ladder else [],
            "faults": r.outcome.faults if r else []}


def junit(outcomes: list[Outcome], shard: Shard | None = None) -> str:
    """JUnit XML: one test case per scenario; a shard's suite has the property ``shard``."""
    cases = []
    for o in outcomes:
        r, out = o.result, None
        if r is not None and r.ladder is not None:
            out = "\n".join([f"expected {expects(o.scenario)}, got {o.got()}",
                             r.ladder.verdict.summary, *r.ladder.verdict.reasons,
                             *r.diagnosis, *r.outcome.faults])
        failed = o.error is None and not o.passed
        cases.append(junit_xml.Case(
            "scenarios", o.scenario.name, o.seconds, error=o.error,
            failure="\n".join(o.unmet) if failed else None,
            failure_message=(o.unmet[0] if o.unmet else "failed") if failed else None,
            failure_type="expectations", out=out))
    return junit_xml.suite_xml("uclab scenarios", cases, str(shard) if shard else None)


def write_junit(result: RunResult, seconds: float, path: Path) -> None:
    """``uclab run NAME --junit FILE``: the one scenario as a test suite."""
    out = Outcome(result.plan.scenario, result, seconds=seconds, unmet=result.unmet)
    path.write_text(junit([out]), encoding="utf-8")
