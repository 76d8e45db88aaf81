"""``uclab run``: run a scenario and print its ladder, verdict, media and timings (rich).

The CLI is the only place that prints: the engine (:mod:`lab.run`) returns a
:class:`~lab.run.RunResult`, the ladder report is the one ``uclab ladder`` prints, and this
module adds what only a run knows: the scenario, the daemons' own media statistics (RTT), where
the time went, and the expectations.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.base.errors import InputError
from lab.run import RunOptions, RunPlan, RunResult, run
from lab.scenario import MediaSpec, load, with_faults

if TYPE_CHECKING:
    from lab.ladder import Ladder

# rich and the ladder's renderers are imported when printing: the engine has imported them
# in the background by then (lab.run.engine.LATER)


def run_command(args: argparse.Namespace) -> int:
    scenario = with_faults(load(args.scenario), args.fault)
    if args.media_seconds is not None:
        try:
            MediaSpec(args.media_seconds)
        except ValueError as exc:
            raise InputError(str(exc), "--media-seconds", fix="give seconds such as 2") from None
    for path in (args.pcap, args.json, args.svg, args.html, args.junit):
        if path is not None and not path.parent.is_dir():
            raise InputError("no such folder", path, fix="create the folder or change the path")
    plan = RunPlan.of(scenario, media_seconds=args.media_seconds)
    from lab.cli import progress, wrote  # noqa: PLC0415

    result = run(plan, RunOptions(lab=args.name, keep=args.keep, pcap=args.pcap,
                                  progress=progress, runtime=args.runtime))
    from lab.ladder import write_outputs  # noqa: PLC0415

    written = []
    if result.ladder is not None:
        print_report(result.ladder, args.width)
        written += write_outputs(result.ladder, svg_path=args.svg, html_path=args.html)
    if args.json is not None:
        write_json(result, args.json)
        written.append(("the run as JSON", args.json))
    if args.junit is not None:
        from lab.cli.scenario_view import write_junit  # noqa: PLC0415

        write_junit(result, result.timings.get("total", 0.0), args.junit)
        written.append(("JUnit XML", args.junit))
    print_run(result, args)
    for what, path in written:
        wrote(what, path)
    return 0 if result.passed else 1


def run_json(result: RunResult) -> dict[str, Any]:
    out = result.outcome
    sc = result.plan.scenario
    return {
        "scenario": {"name": sc.name, "description": sc.description, "file": str(sc.path),
                     "topology": str(result.plan.topology.path)},
        "lab": result.lab, "built": result.built, "passed": result.passed,
        "expectations": {"verdict": sc.expect.verdict, "stopped_at": sc.expect.stopped_at,
                         "diagnosis": list(sc.expect.diagnosis), "unmet": result.unmet},
        "changes": {"overrides": list(sc.overridden),
                    "policies": {n: str(f) for n, f in result.plan.policies.items()},
                    "faults": [f.description for f in result.plan.faults],
                    "time_scale": result.plan.time_scale},
        "diagnosis": result.diagnosis,
        "call": {"reached": out.reached, "problems": out.problems, "setup_s": out.setup_s,
                 "media_s": out.media_s, "faults": out.faults,
                 "dead": [{"node": d.node, "pid": d.pid, "log": d.log,
                           "last_lines": d.last_lines} for d in out.dead]},
        "daemons": {node: {"pid": out.pids.get(node), "stats": stats,
                           "events": out.events.get(node, [])}
                    for node, stats in out.stats.items()},
        "timings": {k: round(v, 4) for k, v in result.timings.items()},
        "pcap": str(result.pcap) if result.pcap else None,
    }


def write_json(result: RunResult, path: Path) -> None:
    from lab.ladder.render_json import ladder_json  # noqa: PLC0415

    data: dict[str, Any] = ladder_json(result.ladder) if result.ladder is not None else {}
    data["run"] = run_json(result)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _media_rows(result: RunResult) -> list[list[str]]:
    rows = []
    for node, reply in result.outcome.stats.items():
        calls = reply.get("calls")
        media = reply.get("media") if calls is None else (calls[-1].get("media") if calls
                                                          else None)
        if not media:
            rows.append([node, "-", "-", "-", "-", "-"])
            continue
        rtt = media.get("rtt_mean_ms")
        rows.append([node, f"{media['sent_packets']} / {media['sent_bytes']}",
                     f"{media['received_packets']} / {media['received_bytes']}",
                     str(media["lost"]), f"{media['jitter_ms']:.2f}",
                     f"{rtt:.2f}" if rtt is not None else "-"])
    return rows


def _print_ice(console: Any, result: RunResult) -> None:
    """The pair each agent selected; the controlling agent's check list with every reason."""
    for node, reply in result.outcome.stats.items():
        calls = reply.get("calls")
        info = reply if calls is None else (calls[-1] if calls else {})
        if info.get("pair"):
            console.print(f"ICE at {node}: selected {info['pair']}", highlight=False)
        elif info.get("ice"):
            console.print(f"ICE at {node}: no pair succeeded", highlight=False)
        if calls is None:  # the Skype client, controlling
            for line in info.get("ice", []):
                console.print(f"    {line}", highlight=False, markup=False)


def _print_problems(console: Any, result: RunResult) -> None:
    out = result.outcome
    for line in out.faults:
        console.print(f"[yellow]fault:[/] {line}")
    for problem in out.problems:
        console.print(f"[red]problem:[/] {problem}")
    gone = result.built and result.lab not in str(result.pcap or "") and not _kept(result)
    for dead in out.dead:
        where = "its log (removed with the lab)" if gone else dead.log
        console.print(f"[red]dead daemon {dead.node}[/] (pid {dead.pid}); last lines of {where}:")
        for line in dead.last_lines:
            console.print(f"    {line}", markup=False, highlight=False)


def _changes(result: RunResult) -> list[str]:
    """What the scenario changed or broke, as written in its file."""
    plan, sc = result.plan, result.plan.scenario
    out = [f"overrides the settings of {node}" for node in sc.overridden]
    out += [f"policy of {node}: {path}" for node, path in plan.policies.items()]
    out += [f"fault: {f.description}" for f in plan.faults]
    if plan.time_scale != 1:
        out.append(f"time scale {plan.time_scale:g}: the daemons' long timers run "
                   f"{1 / plan.time_scale:g} times faster")
    return out


def _kept(result: RunResult) -> bool:
    return Path(f"/run/uclab/{result.lab}").exists()


def print_run(result: RunResult, args: argparse.Namespace) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(width=args.width) if args.width else Console()
    out = result.outcome
    sc = result.plan.scenario
    how = ("built for this run and removed" if result.built and not args.keep else
           "built for this run, kept up" if result.built else "already up; daemons restarted")
    console.print(f"\n[bold]run[/] scenario {sc.name} on lab {result.lab} ({how})")
    for line in _changes(result):
        console.print(f"  {line}", highlight=False, markup=False)
    table = Table(title="Media as the daemons counted it (RTP packets / bytes; RTT from RTCP)",
                  title_justify="left")
    for col in ("daemon", "sent", "received", "lost", "jitter ms", "RTT ms"):
        table.add_column(col)
    for row in _media_rows(result):
        table.add_row(*row)
    console.print(table)
    _print_ice(console, result)
    if out.setup_s is not None:
        console.print(f"share to media both ways {out.setup_s * 1000:.0f} ms (daemons' clock); "
                      f"media ran {out.media_s:.2f} s; the call {out.reached}")
    _print_problems(console, result)
    if result.diagnosis:
        console.print("[bold]diagnosis[/] (from the capture)")
        for line in result.diagnosis:
            console.print(f"  - {line}", markup=False, highlight=False)
    t = result.timings
    parts = [f"{k} {v:.2f} s" for k, v in t.items() if k != "total"]
    console.print(f"[dim]time: {', '.join(parts)}; total {t.get('total', 0):.2f} s[/]")
    if result.pcap is not None:
        console.print(f"capture: {result.pcap} (open it in Wireshark: decrypted, node:iface "
                      "interface names)")
    if result.passed:
        console.print(f"[bold green]scenario {sc.name}: expectations hold "
                      f"(verdict {sc.expect.verdict})[/]")
    else:
        for line in result.unmet:
            console.print(f"[bold red]scenario {sc.name}: {line}[/]")


def print_report(ladder: Ladder, width: int | None = None) -> None:
    """Print the ladder, the step check, media and verdict (rich)."""
    from rich.console import Console  # noqa: PLC0415 - heavy import only when used

    from lab.ladder.render_text import report  # noqa: PLC0415

    console = Console(width=width) if width else Console()
    if not width and not console.is_terminal:  # into a file or a pipe: a readable width
        console = Console(width=120)
    console.print(report(ladder, min(max(console.width, 80), 200)))
