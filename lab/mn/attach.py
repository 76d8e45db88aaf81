"""uclab's lab on a ``Mininet`` object a user built from :class:`lab.mn.topo.UclabTopo`.

    net = Mininet(topo=UclabTopo(), controller=None)
    net.start()
    with attach(net, lab="demo") as lab:      # names, bridges, routes, NAT, PKI, daemons
        result = lab.share()                  # the screen share, judged from its capture
    net.stop()

:func:`start` is ``uclab up`` (:func:`lab.lifecycle.build.up`, with its checks, records and
rollback) on the Mininet runtime adopting the network's hosts
(``MininetRuntime(net)``): each host's namespace is named ``/run/netns/<lab>-<node>`` (recorded
first), then what the Topo could not say is configured (:func:`lab.mn.network.configure`),
the NAT ruleset and the firewalls' policies are loaded, the PKI made and the daemons started.
From then on ``uclab status/exec/run/down --name <lab>`` work on it from any terminal.
:meth:`MininetLab.close` is ``uclab down``: the daemons, every process in the hosts but their
Mininet shells, the names and the run folder go; the hosts and their links are Mininet's,
ended by ``net.stop()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.base.errors import InputError
from lab.base.names import DEFAULT_LAB, check_lab_name
from lab.lifecycle import build, teardown
from lab.lifecycle.context import BuildContext, Step
from lab.mn.network import configure, write_sysctls
from lab.runtime.mininet import MininetRuntime
from lab.topology import Topology

if TYPE_CHECKING:
    from lab.run import RunResult


@dataclass
class MininetLab:
    """A uclab lab running on a user's ``Mininet`` object."""

    net: Any
    ctx: BuildContext

    @property
    def lab(self) -> str:
        return self.ctx.lab

    @property
    def topology(self) -> Topology:
        return self.ctx.topology

    def share(self, scenario: str = "screen-share", *,
              media_seconds: float | None = None) -> RunResult:
        """Run ``scenario`` (default: the screen share) on this lab: the daemons are started
        again under a capture of every interface, the call is placed, and the ladder and the
        verdict are computed from the capture (:func:`lab.run.run`)."""
        from lab import scenario as scenarios  # noqa: PLC0415
        from lab.run import RunOptions, RunPlan, run  # noqa: PLC0415

        plan = RunPlan.of(scenarios.load(scenario), media_seconds=media_seconds)
        return run(plan, RunOptions(lab=self.lab))

    def close(self) -> None:
        """``uclab down`` of this lab (the Mininet hosts are left to ``net.stop()``)."""
        teardown.down(self.lab, self.ctx.state.run.root)


@contextlib.contextmanager
def attach(net: Any, lab: str = DEFAULT_LAB, *, policies: Mapping[str, Path] | None = None,
           daemons: bool = True) -> Iterator[MininetLab]:
    """:func:`start`, then :meth:`MininetLab.close` when the block ends."""
    mlab = start(net, lab, policies=policies, daemons=daemons)
    try:
        yield mlab
    finally:
        mlab.close()


def start(net: Any, lab: str = DEFAULT_LAB, *, policies: Mapping[str, Path] | None = None,
          daemons: bool = True) -> MininetLab:
    """Make ``net`` (built from a :class:`~lab.mn.topo.UclabTopo`, started) lab ``lab``, with
    ``policies`` (firewall node -> nftables or iptables-save file) instead of the topology's;
    on failure what was done is undone and the error raised."""
    topo = getattr(net.topo, "uclab", None)
    if not isinstance(topo, Topology):
        raise InputError("this Mininet network was not built from a uclab topology",
                         "Mininet(topo=...)", fix="build it with Mininet(topo=UclabTopo(), "
                         "controller=None)")
    check_lab_name(lab)
    network = partial(_adopt, extra_ports=dict(net.topo.extra_ports))
    steps = [Step("network", network), Step("nftables", build.load_rulesets)]
    if daemons:
        steps += [Step("pki", build.make_pki), Step("daemons", build.start_daemons)]
    ctx = build.up(topo, lab, policies=policies, steps=steps, runtime=MininetRuntime(net))
    return MininetLab(net, ctx)


def _adopt(ctx: BuildContext, *, extra_ports: Mapping[str, list[str]]) -> None:
    """The ``network`` step on a user's Mininet network: each host named and given its
    sysctls, then the bridges, routes and missing addresses."""
    for node in ctx.topology.nodes:
        ctx.runtime.create(ctx.state, node)
        write_sysctls(ctx.lab, node)
    configure(ctx.lab, ctx.topology, extra_ports)
