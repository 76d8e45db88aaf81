"""``uclab ladder PCAP``: the ladder and the step check of flow.md §3 for any capture of this
flow (the lab's own or a customer's), and the report code ``uclab run`` shares.

Exit codes: 0 every canonical step seen in order (and expected values right), 1 not, 2 bad
input (unreadable capture, bad names file).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.ladder import Ladder


def register(sub: Any) -> None:
    p = sub.add_parser(
        "ladder", help="the screen-share ladder and step check of a capture",
        description="Read a pcap/pcapng of the Skype for Business -> CMS screen share (tech "
        "note 212580), draw its ladder between Skype for Business | Expressway-E | "
        "Expressway-C | Meeting Server, check every step of flow.md §3 and say where it "
        "stopped. Example: uclab ladder customer.pcapng --names names.yaml --html out.html")
    p.add_argument("pcap", metavar="PCAP", type=Path, help="the capture (pcap or pcapng)")
    add_output_options(p)
    p.add_argument("--names", metavar="FILE", type=Path,
                   help="YAML file mapping addresses to the four columns (default: inferred "
                   "from the traffic); see docs/ladder.md")
    p.add_argument("--keylog", metavar="FILE", type=Path,
                   help="TLS key log (NSS format) when the capture has none embedded")
    p.add_argument("--expect", metavar="FILE", type=Path,
                   help="YAML file of expected values per step number (docs/ladder.md)")
    p.set_defaults(func=cmd_ladder)

    p = sub.add_parser(
        "scenarios", help="list the scenario library with a one-line description",
        description="List scenarios/*.yaml: name, what each expects (pass, or the step where "
        "the ladder must stop) and its description. Run one with `uclab run NAME`, all with "
        "`uclab run --all`.")
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser(
        "run", help="run a scenario: build the lab, place the share, ladder and verdict",
        description="Run SCENARIO (a name under scenarios/ or a file): bring the lab up if it "
        "is not (daemons in every node, every interface captured from the start), with the "
        "scenario's overrides, firewall policies and faults; trigger the Skype for Business "
        "screen share, let the media run both ways, end the call from CMS, then print the "
        "ladder, the verdict and the diagnosis computed from the capture. A lab this command "
        "built is removed again (unless --keep). --all runs every scenario of the library, "
        "each in a lab of its own, and prints a summary table (--junit FILE for CI). Exit "
        "codes: 0 the scenario's expectations hold, 1 they do not, 2 usage or set-up error. "
        "Example: uclab run screen-share --pcap share.pcapng --html share.html")
    p.add_argument("scenario", metavar="SCENARIO", nargs="?", help="e.g. screen-share")
    p.add_argument("--all", action="store_true",
                   help="run every scenario of the library (uclab scenarios) and summarise")
    p.add_argument("--shard", metavar="K/N", default=None,
                   help="with --all: only the K-th of N deterministic slices of the library "
                   "(by a hash of the scenario names; the N shards together run each once)")
    p.add_argument("--junit", metavar="FILE", type=Path,
                   help="with --all (or one scenario): JUnit XML, one test case per scenario")
    p.add_argument("--name", default="uclab", metavar="LAB",
                   help="lab name (default uclab); two runs with two names run side by side")
    p.add_argument("--pcap", metavar="FILE", type=Path,
                   help="keep the capture: one pcapng, interfaces node:iface, TLS secrets in it")
    add_output_options(p)
    p.add_argument("--media-seconds", metavar="S", type=float, default=None,
                   help="media both ways for S seconds (default: the scenario's)")
    p.add_argument("--keep", action="store_true",
                   help="leave the lab up afterwards (uclab status, uclab exec, uclab down)")
    p.add_argument("--runtime", metavar="NAME", default="netns",
                   help="what a node of a lab this run builds is: netns (a network namespace, "
                   "the default), mininet (a Mininet host, docs/mininet.md) or docker (a "
                   "container of the uclab image, docs/docker.md)")
    p.add_argument("--fault", metavar="SPEC", action="append", default=[],
                   help="break this run on purpose, written as one entry of a scenario's "
                   "faults: (repeatable), e.g. --fault 'cut: {link: sfb-edge:external, at: "
                   "cms:answered}', --fault 'stop: {node: cms, at: cms:invite}', --fault "
                   "'loss: {segment: internet, percent: 5}'")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from lab.base.errors import InputError, Interrupted  # noqa: PLC0415
    from lab.base.names import check_lab_name  # noqa: PLC0415
    from lab.daemons.launcher import prelaunch  # noqa: PLC0415

    if (args.scenario is None) == (not args.all):
        raise InputError("give one SCENARIO or --all", "uclab run",
                         fix="`uclab scenarios` lists them; `uclab run screen-share` runs one")
    if args.shard is not None and not args.all:
        raise InputError("--shard is for --all", "--shard",
                         fix="uclab run --all --shard K/N, or run the scenario alone")
    lab = check_lab_name(args.name)
    if args.all:
        from lab.cli import scenario_view  # noqa: PLC0415

        return scenario_view.run_all(args)
    launcher = prelaunch(lab)  # the daemons import while we import
    try:
        from lab.cli import run_view  # noqa: PLC0415

        return run_view.run_command(args)
    except KeyboardInterrupt:  # outside the run engine (which says it in its own words)
        raise Interrupted(f"interrupted: lab {lab} is as it was before the run") from None
    finally:
        launcher.close()


def cmd_scenarios(args: argparse.Namespace) -> int:
    from lab.cli import scenario_view  # noqa: PLC0415

    return scenario_view.list_scenarios()


def add_output_options(p: argparse.ArgumentParser) -> None:
    """--json/--svg/--html/--width, shared with ``uclab run``."""
    p.add_argument("--json", metavar="FILE", type=Path, help="write steps, media, verdict")
    p.add_argument("--svg", metavar="FILE", type=Path, help="write the ladder as a picture")
    p.add_argument("--html", metavar="FILE", type=Path, help="write a page with all of it")
    p.add_argument("--width", metavar="N", type=int, default=None,
                   help="terminal width of the ladder (default: the terminal's)")


def emit(ladder: Ladder, args: argparse.Namespace) -> int:
    """Print and write what ``args`` asks for; the exit code of the verdict."""
    from lab.cli import wrote  # noqa: PLC0415
    from lab.cli.run_view import print_report  # noqa: PLC0415
    from lab.ladder import write_outputs  # noqa: PLC0415

    print_report(ladder, args.width)
    for what, path in write_outputs(ladder, json_path=args.json, svg_path=args.svg,
                                    html_path=args.html):
        wrote(what, path)
    return 0 if ladder.verdict.passed else 1


def cmd_ladder(args: argparse.Namespace) -> int:
    from lab.cli.progress import ProgressBar  # noqa: PLC0415
    from lab.ladder import build_ladder, load_expectations  # noqa: PLC0415

    expect = load_expectations(args.expect) if args.expect else None
    ladder = build_ladder(args.pcap, names=args.names, keylog=args.keylog, expect=expect,
                          progress=ProgressBar(f"reading {args.pcap}"))
    code = emit(ladder, args)
    print_diagnosis(ladder, args.width)
    return code


def print_diagnosis(ladder: Ladder, width: int | None = None) -> None:
    """The diagnosis ``uclab run`` prints (:mod:`lab.run.diagnose`), for any capture: with the
    lab's paths when the capture is the lab's, without them for a customer's."""
    from lab.run.diagnose import diagnose  # noqa: PLC0415

    wire = ladder.wire
    if wire is None:
        return
    lines = diagnose(ladder, wire.taps, wire.paths.topo if wire.paths is not None else None)
    import shutil  # noqa: PLC0415
    import textwrap  # noqa: PLC0415

    columns = width or shutil.get_terminal_size((100, 24)).columns
    if lines:
        print("diagnosis (from the capture)")
        for line in lines:  # wrapped between words: an address is never cut
            print(textwrap.fill(line, columns - 1, initial_indent="  - ",
                                subsequent_indent="    ", break_long_words=False,
                                break_on_hyphens=False))
