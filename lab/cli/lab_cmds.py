"""``uclab up | down | status | exec | clean | graph``: the lab's own commands.

Thin: argument parsing, calling :mod:`lab.lifecycle.build` / :mod:`lab.lifecycle.teardown` /
:mod:`lab.lifecycle.status`, printing (rich, or ``--json``). Heavy modules are imported inside the
handlers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from lab.base.errors import InputError, Interrupted
from lab.base.names import DEFAULT_LAB, check_lab_name


def register(sub: Any) -> None:
    p = sub.add_parser("up", help="build the lab: namespaces, links, NAT, firewalls")
    p.add_argument("--topology", metavar="PATH|NAME", default=None,
                   help="topology file or name under topologies/ (default sfb-cms-expressway)")
    _name(p)
    p.add_argument("--policy", metavar="NODE=FILE", action="append", default=[],
                   help="load FILE (a complete nftables file, or an iptables-save file) into "
                   "firewall NODE instead of its baseline; repeatable")
    p.add_argument("--no-daemons", action="store_true",
                   help="the network only: no PKI, no node daemons")
    p.add_argument("--runtime", metavar="NAME", default="netns",
                   help="what a node is: netns (a network namespace, the default), mininet "
                   "(a Mininet host) or docker (a container of the uclab image, docs/docker.md)")
    _json(p)
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="remove the lab entirely")
    _name(p)
    _json(p)
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", help="nodes, interfaces, addresses, processes, fw counters")
    _name(p)
    _json(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("exec", help="run a command (default: a shell) inside a node",
                       description="Run CMD inside NODE's namespace, as "
                       "`ip netns exec <lab>-<node> CMD` does; options (--name) go before the "
                       "--. Example: uclab exec cms --name uclab2 -- ss -tn")
    _name(p)
    p.add_argument("node", metavar="NODE")
    p.add_argument("cmd", metavar="-- CMD", nargs="*", help="the command and its arguments")
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser("clean", help="remove what crashed labs left behind (by their records)",
                       description="Remove the labs a crash left behind: those whose build or "
                       "removal died, and those built by a `uclab run` that died before "
                       "removing them. Found only through their state records under /run/uclab. "
                       "Example: uclab clean --name uclab2 --dry-run")
    p.add_argument("--name", metavar="LAB", default=None,
                   help="only this lab (default: every lab on this machine)")
    p.add_argument("--all", action="store_true", help="also remove labs that are up")
    p.add_argument("--dry-run", action="store_true",
                   help="say what would be removed, remove nothing")
    _json(p)
    p.set_defaults(func=cmd_clean)

    p = sub.add_parser("graph", help="the topology as a tree here and as an SVG picture",
                       description="Draw a topology: --topology, else the topology of lab "
                       "--name when it exists, else the default one. Example: uclab graph "
                       "--name uclab2 --svg lab.svg")
    p.add_argument("--topology", metavar="PATH|NAME", default=None,
                   help="topology file or name under topologies/")
    p.add_argument("--name", metavar="LAB", default=None,
                   help="draw the topology that lab LAB runs")
    p.add_argument("--svg", metavar="FILE", type=Path, help="write the picture to FILE")
    p.set_defaults(func=cmd_graph)


def _name(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default=DEFAULT_LAB, metavar="LAB",
                   help=f"lab name: namespaces are LAB-NODE (default {DEFAULT_LAB})")


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON for machines")


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def parse_policies(items: list[str]) -> dict[str, Path]:
    """``["fw-outside=FILE", ...]`` -> ``{"fw-outside": Path(FILE)}``."""
    out: dict[str, Path] = {}
    for item in items:
        node, sep, file = item.partition("=")
        if not sep or not node or not file:
            raise InputError(f"--policy {item!r} is not NODE=FILE", "--policy",
                             fix="write it as --policy fw-outside=my-policy.nft")
        out[node] = Path(file)
    return out


def cmd_up(args: argparse.Namespace) -> int:
    from lab import topology  # noqa: PLC0415
    from lab.cli import lab_view, progress  # noqa: PLC0415
    from lab.lifecycle import build  # noqa: PLC0415

    lab = check_lab_name(args.name)
    policies = parse_policies(args.policy)
    topo = topology.load(args.topology)
    t0 = time.perf_counter()
    try:
        if args.no_daemons:
            ctx = build.up(topo, lab, policies=policies, steps=build.NETWORK_STEPS,
                           runtime=args.runtime)
        else:
            from lab.daemons.launcher import prelaunch  # noqa: PLC0415

            launcher = prelaunch(lab)  # the daemons' imports overlap the network's build
            try:
                ctx = build.up(topo, lab, policies=policies, runtime=args.runtime,
                               progress=progress)
            finally:
                launcher.close()
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: lab {lab} was rolled back (nothing of it is left)"
                          ) from None
    seconds = time.perf_counter() - t0
    if args.json:
        _print_json({"lab": lab, "topology": str(ctx.topology.path), "seconds": seconds,
                     "steps": ctx.timings, "namespaces": ctx.topology.namespaces(lab)})
    else:
        lab_view.print_up(ctx.topology, lab, seconds, ctx.timings)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from lab.lifecycle import teardown  # noqa: PLC0415

    lab = check_lab_name(args.name)
    t0 = time.perf_counter()
    removed = teardown.down(lab)
    seconds = time.perf_counter() - t0
    if args.json:
        _print_json({"lab": lab, "seconds": seconds, "namespaces": removed.namespaces,
                     "processes": removed.processes})
    else:
        print(f"lab {lab} removed: {len(removed.namespaces)} namespaces, "
              f"{len(removed.processes)} processes ({seconds:.2f} s)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from lab.cli import lab_view  # noqa: PLC0415
    from lab.lifecycle import status  # noqa: PLC0415

    st = status.collect(check_lab_name(args.name))
    if args.json:
        _print_json(st.to_json())
    else:
        lab_view.print_status(st)
    healthy = all(n.present for n in st.nodes) and not st.dead_daemons and not st.orphan
    return 0 if healthy and st.phase == "up" else 1


def cmd_exec(args: argparse.Namespace) -> int:
    import os  # noqa: PLC0415

    from lab import runtime as runtimes  # noqa: PLC0415
    from lab.base.errors import LabError  # noqa: PLC0415
    from lab.base.state import LabState  # noqa: PLC0415
    from lab.kernel import processes  # noqa: PLC0415

    lab = check_lab_name(args.name)
    state = LabState.load(lab)
    if args.node not in state.nodes:
        raise InputError(f"lab {lab} has no node {args.node!r}", "NODE",
                         fix="use one of: " + ", ".join(state.nodes))
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        cmd = [os.environ.get("SHELL", "/bin/bash")]
    rt = runtimes.get(state.runtime)
    handle = rt.handle(lab, args.node)
    if not handle.netns_path.exists():
        raise LabError(f"node {args.node} of lab {lab} is gone ({handle.netns_path} does not "
                       f"exist): `uclab status --name {lab}` shows the lab")
    processes.become(rt.exec_argv(handle, cmd, interactive=True))


def cmd_clean(args: argparse.Namespace) -> int:
    from lab.lifecycle import teardown  # noqa: PLC0415

    only = check_lab_name(args.name) if args.name is not None else None
    report = teardown.clean(everything=args.all, only=only, dry_run=args.dry_run)
    if args.json:
        _print_json({lab: r if isinstance(r, str) else
                     {"namespaces": r.namespaces, "processes": r.processes}
                     for lab, r in report.items()})
        return 0
    if not report:
        print(f"nothing to clean: lab {only} has no run folder under /run/uclab" if only else
              "nothing to clean: no lab has a run folder under /run/uclab")
    for lab, r in report.items():
        if isinstance(r, str):
            print(f"{lab}: {r}")
        else:
            print(f"{lab}: removed {len(r.namespaces)} namespaces, {len(r.processes)} processes")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from lab import topology  # noqa: PLC0415
    from lab.cli import lab_view  # noqa: PLC0415
    from lab.topology.graph import svg  # noqa: PLC0415

    topo = topology.load(args.topology if args.topology is not None or args.name is None
                         else _lab_topology(check_lab_name(args.name)))
    lab_view.print_tree(topo)
    if args.svg is not None:
        args.svg.write_text(svg(topo))
        from lab.cli import wrote  # noqa: PLC0415

        wrote("the topology as a picture (SVG)", args.svg)
    return 0


def _lab_topology(lab: str) -> str:
    from lab.base.state import LabState  # noqa: PLC0415

    return LabState.load(lab).topology
