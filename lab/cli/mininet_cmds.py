"""``uclab mininet``: the lab under Mininet's own CLI (:mod:`lab.cli.mininet_cli`,
docs/mininet.md)."""

from __future__ import annotations

import argparse
from typing import Any

from lab.base.names import DEFAULT_LAB, check_lab_name


def register(sub: Any) -> None:
    p = sub.add_parser(
        "mininet", help="build the lab with Mininet and open Mininet's CLI on it",
        description="Build the topology as Mininet hosts and links (Debian's mininet), make it "
        "a uclab lab (bridges with the firewalls' nftables policies, addresses, routes, NAT, "
        "PKI, daemons) and open Mininet's CLI (mininet>) on it: `cms ss -tnp`, `sfb-client "
        "ping 10.48.54.230`, `py net.get('cms')`, `share` places the screen share, `uclab "
        "status` runs a uclab command on the lab. Leaving the CLI removes the lab. Other "
        "terminals reach the lab with uclab status/exec/run --name LAB.")
    p.add_argument("--name", default=DEFAULT_LAB, metavar="LAB",
                   help=f"lab name: namespaces are LAB-NODE (default {DEFAULT_LAB})")
    p.add_argument("--topology", metavar="PATH|NAME", default=None,
                   help="topology file or name under topologies/ (default sfb-cms-expressway)")
    p.add_argument("--policy", metavar="NODE=FILE", action="append", default=[],
                   help="load FILE into firewall NODE instead of its baseline; repeatable")
    p.set_defaults(func=cmd_mininet)


def cmd_mininet(args: argparse.Namespace) -> int:
    from lab import topology  # noqa: PLC0415
    from lab.cli.lab_cmds import parse_policies  # noqa: PLC0415
    from lab.cli.mininet_cli import run_cli  # noqa: PLC0415

    lab = check_lab_name(args.name)
    policies = parse_policies(args.policy)
    import logging  # noqa: PLC0415

    import mininet.log  # noqa: PLC0415

    mininet.log.setLogLevel("info")  # what `mn` prints
    logging.getLogger("mininet").propagate = False  # Mininet's logger prints it once
    run_cli(topology.load(args.topology), lab, policies=policies)
    return 0
