"""uclab's lab on a ``Mininet`` object a user built from :class:`lab.mn.topo.UclabTopo`.

    net = Mininet(topo=UclabTopo(), controller=None)
    net.start()
    with attach(net, lab="demo") as lab:      # names, bridges, routes, NAT, PKI, daemons
        result = lab.share()                  # the screen share, judged from its capture
    net.stop()

:func:`attach` names each host's namespace ``/run/netns/<lab>-<node>`` (recorded first, as
every lab object is), configures what the Topo could not say (:func:`lab.mn.network.
configure`), loads the NAT ruleset and the firewalls' policies and starts the daemons: from
then on ``uclab status/exec/run/down --name <lab>`` work on it from any terminal.
:meth:`MininetLab.close` stops the daemons and removes the names and the run folder; the hosts
and their links are Mininet's, ended by ``net.stop()``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lab.base.errors import InputError, LabError
from lab.base.names import DEFAULT_LAB, check_lab_name
from lab.base.state import LabState, Record
from lab.daemons import supervisor
from lab.kernel import namespaces, processes
from lab.kernel.bind import bind_netns
from lab.lifecycle import build
from lab.lifecycle.build import BuildContext
from lab.mn.network import configure, write_sysctls
from lab.topology import Topology

if TYPE_CHECKING:
    from lab.run import RunResult

log = logging.getLogger(__name__)


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
        """Stop the lab's processes and remove its names and run folder (the Mininet hosts
        are left to ``net.stop()``)."""
        state = LabState.load(self.lab, self.ctx.state.run.root)
        with state.locked():
            state.set_phase("removing")
            processes.stop_processes([processes.ProcessId(r.pid, r.start) for r in state.records
                                      if r.kind == "process" and r.pid is not None
                                      and r.start is not None])
            for r in state.records:
                if r.kind == "netns":
                    namespaces.delete_netns(r.name)
            state.remove_run_dir()


@contextlib.contextmanager
def attach(net: Any, lab: str = DEFAULT_LAB, *, daemons: bool = True) -> Iterator[MininetLab]:
    """:func:`start`, then :meth:`MininetLab.close` when the block ends."""
    mlab = start(net, lab, daemons=daemons)
    try:
        yield mlab
    finally:
        mlab.close()


def start(net: Any, lab: str = DEFAULT_LAB, *, daemons: bool = True) -> MininetLab:
    """Make ``net`` (built from a :class:`~lab.mn.topo.UclabTopo`, started) lab ``lab``; on
    failure what was done is undone and the error raised."""
    topo = getattr(net.topo, "uclab", None)
    if not isinstance(topo, Topology):
        raise InputError("this Mininet network was not built from a uclab topology",
                         "Mininet(topo=...)", fix="build it with Mininet(topo=UclabTopo(), "
                         "controller=None)")
    check_lab_name(lab)
    build.check_policies(topo)
    build.preflight(topo, lab)
    state = LabState.create(lab, topo.path, {n.name: n.role for n in topo.nodes},
                            {n.name: n.policy for n in topo.firewalls() if n.policy is not None})
    ctx = BuildContext(lab, topo, state)
    try:
        _name_hosts(ctx, net)
        configure(lab, topo, extra_ports=net.topo.extra_ports)
        build.load_rulesets(ctx)
        if daemons:
            build.make_pki(ctx)
            _start_daemons(ctx)
        state.set_phase("up")
    except BaseException:
        log.warning("%s: attach failed, undoing it", lab)
        state.release()
        MininetLab(net, ctx).close()
        raise
    state.release()
    return MininetLab(net, ctx)


def _start_daemons(ctx: BuildContext) -> None:
    supervisor.start_daemons(ctx)


def _name_hosts(ctx: BuildContext, net: Any) -> None:
    for node in ctx.topology.nodes:
        host = net.get(node.name)
        if host.shell is None:
            raise LabError(f"Mininet host {node.name} has no shell: net.start() it first")
        record = ctx.state.add(Record("netns", ctx.ns(node.name)))
        try:
            bind_netns(ctx.ns(node.name), host.pid)
        except LabError:
            ctx.state.drop(record)
            raise
        start = processes.start_time(host.pid)
        ctx.state.confirm(record, pid=host.pid, start=-1 if start is None else start,
                          argv=processes.cmdline(host.pid))
        write_sysctls(ctx.lab, node)
