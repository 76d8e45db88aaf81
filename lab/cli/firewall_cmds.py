"""``uclab firewall check``: judge firewall policies by real traffic through the lab.

Exit codes: 0 the policies pass (every required flow passes, nothing unneeded gets through),
1 they fail, 2 bad input (a policy nft or iptables-nft-restore rejects, a wrong node, a missing
file), reported before anything is built. ``--batch DIR`` judges every pair of policies that
``DIR/pairs.yaml`` names (:mod:`lab.firewall.batch`), one lab after the other: 0 when every
pair has its expected verdict.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.base.errors import InputError
from lab.base.names import check_lab_name

if TYPE_CHECKING:
    from lab.firewall.batch import Pair, PairResult
    from lab.firewall.report import Report


def register(sub: Any) -> None:
    p = sub.add_parser("firewall", help="firewall policies judged by real traffic")
    fw = p.add_subparsers(dest="firewall_command", metavar="SUBCOMMAND",
                          parser_class=type(p))
    c = fw.add_parser(
        "check", help="load policies into the lab's firewalls and judge them by traffic",
        description="Build a lab with your policies in fw-outside / fw-inside, trace new "
        "connections with nftables tracing, run the real screen share through them (a flow "
        "the share stops before opening gets a connection attempt), probe flows the call "
        "does not need, then report each required flow of ports.md (F1-F7) passed or blocked "
        "with the rule that decided, the ladder step that broke first, and every unneeded "
        "flow let through (over-permissive). Example: uclab firewall check --policy "
        "fw-outside=out.nft --policy fw-inside=in.rules --json report.json")
    c.add_argument("--policy", metavar="NODE=FILE", action="append", default=[],
                   help="the policy of firewall NODE (fw-outside, fw-inside): an nftables file "
                   "or an iptables-save file; repeatable; a firewall not named keeps the lab's "
                   "baseline")
    c.add_argument("--format", choices=("nft", "iptables"), default=None,
                   help="the policies' format (default: detected per file; iptables-save files "
                   "have *table sections and COMMIT)")
    c.add_argument("--json", metavar="FILE", type=Path, help="write the report as JSON")
    c.add_argument("--junit", metavar="FILE", type=Path, help="write JUnit XML for CI")
    c.add_argument("--traces", metavar="DIR", type=Path,
                   help="keep the raw `nft monitor trace` lines and the loaded rulesets (with "
                   "their handles), per node: DIR/NODE.trace, DIR/NODE.ruleset.json")
    c.add_argument("--quick", action="store_true",
                   help="no share: one TCP connection attempt per connection of each flow, in "
                   "a lab without daemons (about a second; the ladder step is a prediction)")
    c.add_argument("--name", metavar="LAB", default="fwcheck",
                   help="name of the throwaway lab (default fwcheck; namespaces LAB-NODE)")
    c.add_argument("--topology", metavar="PATH|NAME", default=None,
                   help="topology file or name under topologies/ (default sfb-cms-expressway); "
                   "the flows of ports.md and the probes are taken at its addresses")
    c.add_argument("--runtime", metavar="NAME", default="netns",
                   help="what a node of the throwaway lab is: netns (default), mininet or "
                   "docker")
    c.add_argument("--batch", metavar="DIR", type=Path,
                   help="judge every pair of policies named in DIR/pairs.yaml, one lab each; "
                   "--json/--junit write the summary (one entry per pair)")
    c.add_argument("--reports", metavar="DIR", type=Path,
                   help="with --batch: each pair's report as DIR/PAIR.json and PAIR.junit.xml")
    c.add_argument("--shard", metavar="K/N", default=None,
                   help="with --batch: only the K-th of N deterministic slices of the pairs")
    c.set_defaults(func=cmd_check)
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])


def cmd_check(args: argparse.Namespace) -> int:
    from lab.cli.lab_cmds import parse_policies  # noqa: PLC0415
    from lab.daemons.launcher import prelaunch  # noqa: PLC0415
    from lab.firewall import check, connection_attempts  # noqa: PLC0415
    from lab.firewall.report import dumps  # noqa: PLC0415

    lab = check_lab_name(args.name)
    if args.batch is not None or args.reports is not None or args.shard is not None:
        return cmd_batch(args)
    policies = parse_policies(args.policy)
    if args.quick:
        report = check(policies, args.format, lab=lab, topology_name=args.topology,
                       traffic=connection_attempts(), runtime=args.runtime)
    else:
        launcher = prelaunch(lab)  # the daemons' stacks import while the lab is built
        try:
            report = check(policies, args.format, lab=lab, topology_name=args.topology,
                           runtime=args.runtime)
        finally:
            launcher.close()
    print_report(report)
    outputs: dict[Path, str] = {}
    if args.json is not None:
        outputs[args.json] = dumps(report)
    if args.junit is not None:
        outputs[args.junit] = report.to_junit()
    if args.traces is not None:
        for node, lines in report.raw_traces.items():
            outputs[args.traces / f"{node}.trace"] = "".join(f"{ln}\n" for ln in lines)
        for node, text in report.rulesets.items():
            outputs[args.traces / f"{node}.ruleset.json"] = text
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    from lab.cli import wrote  # noqa: PLC0415

    for what, path in (("the report as JSON", args.json), ("JUnit XML", args.junit),
                       ("the raw traces and rule sets", args.traces)):
        if path is not None:
            wrote(what, path)
    return 0 if report.verdict == "pass" else 1


def cmd_batch(args: argparse.Namespace) -> int:
    """``--batch DIR``: every pair of the manifest (policies validated first, all of them)."""
    from lab import topology  # noqa: PLC0415
    from lab.firewall import batch  # noqa: PLC0415
    from lab.lifecycle import policies  # noqa: PLC0415
    from lab.scenario.shard import Shard  # noqa: PLC0415

    if args.batch is None:
        raise InputError("--reports and --shard are for --batch", "--batch",
                         fix="uclab firewall check --batch DIR [--reports OUT] [--shard K/N]")
    for flag in ("policy", "traces"):
        if getattr(args, flag):
            raise InputError(f"--{flag} is for one check, not --batch", f"--{flag}",
                             fix="name the policies in pairs.yaml, or check one pair alone")
    for path in (args.json, args.junit):
        if path is not None and not path.parent.is_dir():
            raise InputError("no such folder", path, fix="create the folder or change the path")
    pairs = batch.load(args.batch)
    topo = topology.load(args.topology)
    for pair in pairs:  # nft / iptables-nft-restore judge every file before any lab
        policies.validate(topo, policies.read(topo, pair.policies, args.format))
    shard = Shard.parse(args.shard) if args.shard is not None else None
    if shard is not None:
        mine = set(shard.select(p.name for p in pairs))
        pairs = [p for p in pairs if p.name in mine]
        print(f"shard {shard}: {len(pairs)} pairs: {', '.join(sorted(mine)) or 'none'}")
    results = [_check_pair(pair, args) for pair in pairs]
    _print_batch(results)
    label = str(shard) if shard else None
    if args.json is not None:
        args.json.write_text(json.dumps(batch.summary_json(results, label), indent=2) + "\n")
    if args.junit is not None:
        args.junit.write_text(batch.summary_junit(results, label))
    if any(r.error is not None for r in results):
        return 2
    return 0 if all(r.holds for r in results) else 1


def _check_pair(pair: Pair, args: argparse.Namespace) -> PairResult:
    from lab.base.errors import UclabError  # noqa: PLC0415
    from lab.daemons.launcher import prelaunch  # noqa: PLC0415
    from lab.firewall import check, connection_attempts  # noqa: PLC0415
    from lab.firewall.batch import PairResult  # noqa: PLC0415
    from lab.firewall.report import dumps  # noqa: PLC0415

    out = PairResult(pair)
    t0 = time.perf_counter()
    launcher = None if args.quick else prelaunch(args.name)
    try:
        report = check(pair.policies, args.format, lab=args.name, topology_name=args.topology,
                       traffic=connection_attempts() if args.quick else None,
                       runtime=args.runtime)
    except UclabError as exc:
        out.error = str(exc)
        return out
    finally:
        if launcher is not None:
            launcher.close()
        out.seconds = time.perf_counter() - t0
    out.verdict, out.first_broken_step = report.verdict, report.to_json()["first_broken_step"]
    if args.reports is not None:
        args.reports.mkdir(parents=True, exist_ok=True)
        for kind, text in (("json", dumps(report)), ("junit", report.to_junit())):
            path = args.reports / f"{pair.name}.{'json' if kind == 'json' else 'junit.xml'}"
            path.write_text(text)
            out.reports[kind] = str(path)
    return out


def _print_batch(results: list[PairResult]) -> None:
    from rich.console import Console  # noqa: PLC0415

    out = Console(highlight=False, soft_wrap=True).print
    for r in results:
        mark = "[green]HOLDS[/]" if r.holds else "[bold red]WRONG[/]"
        got = r.verdict or "error"
        step = f", first broken step {r.first_broken_step}" if r.first_broken_step else ""
        out(f"{mark} {r.pair.name}: expected {r.pair.expect}, got {got}{step} "
            f"({r.seconds:.1f} s)" + (f"\n      error: {r.error}" if r.error else ""))
    held = sum(r.holds for r in results)
    out(f"{held} of {len(results)} policy pairs have their expected verdict")


def print_report(report: Report) -> None:
    """The flows, the probes and the verdict (rich), one item per line: rule texts are long."""
    from rich.console import Console  # noqa: PLC0415

    from lab.firewall.report import step_name  # noqa: PLC0415

    console = Console(highlight=False, soft_wrap=True)
    out = console.print
    for node, info in report.policies.items():
        out(f"policy of {node}: {info['file']} ({info['format']})")
    if report.share is not None:
        _print_share(report.share)
    out("\n[bold]required flows[/] (ports.md)")
    style = {"passed": "green", "blocked": "bold red", "not seen": "yellow"}
    for f in report.flows:
        out(f"  [{style[f.status]}]{f.status.upper():8}[/] {f.spec.id} at {f.spec.judged_at}: "
            f"{f.spec.flow.why}")
        for c in f.connections:
            by = " (connection attempt: the share did not open it)" if (
                c.source == "attempt" and report.share is not None) else ""
            out(f"           {c.label}{by}: {c.tuple}: [{style[c.status]}]{c.explain()}[/]")
        if not f.connections:
            out("           no connection of this flow was traced")
        if f.step is not None:
            out(f"           breaks ladder step {step_name(f.step)}")
    out("\n[bold]flows the call does not need[/] (probes)")
    for p in report.probes:
        conn = p.connection
        head = f"{p.probe.id} at {p.probe.firewall}: {p.probe.describe()} ({p.probe.why})"
        if p.over_permissive:
            out(f"  [bold red]OPEN    [/] {head}\n"
                f"           let through by {conn.rule if conn else '?'}")
        elif p.status == "blocked" and conn is not None:
            out(f"  [green]blocked [/] {head}\n           by {conn.rule}")
        else:
            out(f"  [yellow]{p.status:8}[/] {head}")
    for note in report.notes:
        out(f"[yellow]note:[/] {note}")
    _verdict(report)


def _print_share(share: dict[str, Any]) -> None:
    from rich.console import Console  # noqa: PLC0415

    out = Console(highlight=False, soft_wrap=True).print
    out(f"\n[bold]the screen share[/] through these policies (time scale "
        f"{share['time_scale']:g}): {share['ladder']}")
    for line in [*share["reasons"], *share["diagnosis"]]:
        out(f"  - {line}", markup=False)
    for line in share["problems"]:
        out(f"  [yellow]call:[/] {line}")


def _verdict(report: Report) -> None:
    from rich.console import Console  # noqa: PLC0415

    from lab.firewall.report import step_name  # noqa: PLC0415

    blocked = [f"{f.spec.id} {f.status}" for f in report.flows if f.status != "passed"]
    too_open = [p.probe.id for p in report.over_permissive]
    step = report.first_broken_step
    text = (f"\nverdict: [{'green' if report.verdict == 'pass' else 'bold red'}]"
            f"{report.verdict.upper()}[/]")
    if blocked:
        text += f"; required flows not passing: {', '.join(blocked)}"
    if too_open:
        text += f"; over-permissive: {', '.join(too_open)}"
    if step is not None:
        how = "from the share's ladder" if report.share is not None else "predicted"
        text += f"\nfirst ladder step to break ({how}): {step_name(step)}"
    elif report.share is not None and blocked:
        text += "\nthe share's ladder passed: the blocked flows are not needed before the end"
    Console(highlight=False, soft_wrap=True).print(text)
