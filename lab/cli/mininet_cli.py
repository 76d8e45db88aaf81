"""Mininet's own CLI (``mininet>``) on a uclab lab: ``uclab mininet [--name LAB]``.

The lab is built as a ``Mininet`` network from :class:`lab.mn.topo.UclabTopo` (hosts whose
shells are tagged ``uclab:<lab>:<node>``, see :mod:`lab.runtime.mininet`), made a uclab lab by
:func:`lab.mn.attach.start`, and Mininet's :class:`mininet.cli.CLI` runs on it with node names
that contain ``-`` (``sfb-client ping 10.48.54.230``) and two commands of uclab's:

* ``share [SCENARIO]``: the screen share (or a scenario that runs on this lab as it is),
  ladder and verdict from its capture;
* ``uclab COMMAND ARGS``: a ``uclab`` command on this lab, ``--name`` added after COMMAND
  (``uclab status``, ``uclab exec cms -- ss -tn``, ``uclab run internet-packet-loss``).

Leaving the CLI (``exit``, end of input) removes the lab.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from lab.base.errors import UclabError
from lab.mn.attach import MininetLab, start
from lab.mn.topo import UclabTopo
from lab.runtime.mininet import host_class, import_mininet
from lab.topology import Topology

_CLI: Any = import_mininet().cli.CLI


class UclabCLI(_CLI):  # type: ignore[misc]
    """Mininet's CLI with uclab's node names and commands (see the module docstring)."""

    identchars = _CLI.identchars + "-"  # node names such as sfb-client and expressway-e

    def __init__(self, mininet: Any, lab: MininetLab, **kwargs: Any) -> None:
        self.uclab = lab
        super().__init__(mininet, **kwargs)

    def do_share(self, line: str) -> None:
        """Place the screen share on this lab and print its ladder and verdict, judged from
        the capture of every interface: share [SCENARIO] (default screen-share)."""
        from lab.cli.run_view import print_report, print_run  # noqa: PLC0415

        try:
            result = self.uclab.share(line.strip() or "screen-share")
        except UclabError as exc:
            print(f"share: {exc}")
            return
        if result.ladder is not None:
            print_report(result.ladder)
        print_run(result, argparse.Namespace(width=None, keep=False))  # ends with the judgement

    def do_uclab(self, line: str) -> None:
        """Run a uclab command on this lab: uclab status, uclab exec cms -- ss -tn, ..."""
        argv = shlex.split(line)
        if argv and "--name" not in argv:
            argv[1:1] = ["--name", self.uclab.lab]
        subprocess.run([sys.executable, "-m", "lab", *argv], check=False)


def run_cli(topology: Topology, lab: str, *,
            policies: Mapping[str, Path] | None = None) -> None:
    """Build ``topology`` as a Mininet network, make it lab ``lab``, run the CLI on it, then
    remove the lab and stop the network (also when the CLI fails)."""
    mininet = import_mininet()
    net = mininet.net.Mininet(topo=UclabTopo(topology), host=partial(host_class(), lab=lab),
                              controller=None, build=False)
    try:
        net.build()
        net.start()
        mlab = start(net, lab, policies=policies)
        try:
            UclabCLI(net, mlab)  # returns when the CLI is left
        finally:
            mlab.close()
    finally:
        net.stop()
