"""Bringing a lab up: a sequence of recorded, rollback-able steps.

    ctx = build.up(topology.load(), lab="uclab")        # raises; nothing is left on failure
    teardown.down("uclab")                              # everything the records name
    teardown.clean()                                    # labs left behind by a crash

``up`` checks everything it can first (the policies with ``nft -c`` or
``iptables-nft-restore --test``, the names, the runtime, br_netfilter), then runs
:data:`STEPS` in order (each a :class:`lab.lifecycle.context.Step`). Every object is recorded
in the lab's state before it is made; if any step fails, or the process is killed, the records
say what may exist and :func:`lab.lifecycle.teardown.undo` removes exactly that.

To add a step: write ``def my_step(ctx: BuildContext) -> None`` and put
``Step("name", my_step)`` into the list given as ``steps=``. Start processes with
:func:`lab.lifecycle.context.start_process`, which records them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from lab import runtime as runtimes
from lab.base.errors import LabError
from lab.base.names import DEFAULT_LAB, RUN_ROOT, check_lab_name
from lab.base.state import LabState, RunDir
from lab.kernel import links, namespaces, nftables, processes
from lab.kernel.confinement import check_confinement
from lab.lifecycle import policies as policy_files
from lab.lifecycle import teardown
from lab.lifecycle.context import BuildContext, Step
from lab.lifecycle.network import build_network
from lab.rulesets.render import nat_ruleset
from lab.runtime import NodeRuntime
from lab.topology import Topology

log = logging.getLogger(__name__)


def nft_jobs(ctx: BuildContext) -> list[nftables.NftJob]:
    """Rendered NAT rulesets and the firewalls' policy files, per namespace."""
    jobs = []
    for node in ctx.topology.nodes:
        if node.nat is not None:
            jobs.append(nftables.NftJob(ctx.ns(node.name), text=nat_ruleset(node)))
        if node.policy is not None:
            jobs.append(nftables.NftJob(ctx.ns(node.name), path=node.policy))
    return jobs


def load_rulesets(ctx: BuildContext) -> None:
    """The NAT ruleset and every firewall policy, loaded at once, each in its namespace; then
    the iptables-save policies, restored by iptables-nft."""
    nftables.load(nft_jobs(ctx))
    policy_files.restore(ctx.lab, ctx.policies)


def make_pki(ctx: BuildContext) -> None:
    """The lab's CA and the daemons' certificates (:mod:`lab.daemons.supervisor`)."""
    from lab.daemons import supervisor  # noqa: PLC0415 - asyncio and YAML only when used

    supervisor.make_pki(ctx)


def start_daemons(ctx: BuildContext) -> None:
    """A daemon in every node that has one, all ready (:mod:`lab.daemons.supervisor`)."""
    from lab.daemons import supervisor  # noqa: PLC0415

    supervisor.start_daemons(ctx)


#: The network alone: nodes, links, addresses, routes, NAT and firewall rulesets.
NETWORK_STEPS: list[Step] = [
    Step("network", build_network),
    Step("nftables", load_rulesets),
]
#: The whole lab (``uclab up``): the network, then the PKI and a daemon in every node.
STEPS: list[Step] = [
    *NETWORK_STEPS,
    Step("pki", make_pki),
    Step("daemons", start_daemons),
]


def preflight(topo: Topology, lab: str, runtime: NodeRuntime, root: Path = RUN_ROOT) -> None:
    """What can be known before building: the names are free, the runtime can make the
    nodes, br_netfilter is there."""
    run = RunDir(check_lab_name(lab), root)
    if run.path.exists():
        raise LabError(f"lab {lab} exists already ({run.path}): `uclab status --name {lab}` "
                       f"shows it, `uclab down --name {lab}` removes it")
    runtime.preflight(lab, topo.nodes)
    if any(n.kind == "bridge" for n in topo.nodes):
        namespaces.ensure_br_netfilter()


def up(topo: Topology, lab: str = DEFAULT_LAB, *, policies: Mapping[str, Path] | None = None,
       policy_format: policy_files.Format | None = None, steps: Sequence[Step] | None = None,
       runtime: str | NodeRuntime = runtimes.DEFAULT_RUNTIME,
       root: Path = RUN_ROOT, for_run: bool = False,
       progress: Callable[[str], None] | None = None) -> BuildContext:
    """Build lab ``lab`` from ``topo`` on ``runtime``, with ``policies`` (firewall node ->
    nftables or iptables-save file) loaded in place of the topology's. On any failure
    everything built is removed again and the error is raised; on success the lab's phase
    is ``up``. ``for_run``: the lab is built for this process (a ``uclab run``), which removes
    it; its record says so, and ``uclab clean`` removes it once that process is gone."""
    check_lab_name(lab)
    check_confinement()
    rt = runtimes.get(runtime) if isinstance(runtime, str) else runtime
    links.preload()
    given = policy_files.read(topo, policies or {}, policy_format)
    policy_files.validate(topo, given)
    preflight(topo, lab, rt, root)
    used = {n.name: n.policy for n in topo.firewalls() if n.policy is not None}
    used.update({p.node: p.path for p in given})
    roles = {n.name: n.role for n in topo.nodes}
    me = [os.getpid(), processes.start_time(os.getpid()) or -1]
    state = LabState.create(lab, topo.path, roles, used, runtime=rt.name, root=root,
                            for_run=me if for_run else None)
    try:
        ctx = BuildContext(lab, policy_files.install(state, topo, given), state, rt, given,
                           progress=progress)
        for step in STEPS if steps is None else steps:
            t0 = time.perf_counter()
            log.info("%s: %s", lab, step.name)
            step.run(ctx)
            ctx.timings[step.name] = time.perf_counter() - t0
        state.set_phase("up")
    except BaseException as exc:  # Ctrl-C too: the caller says it in its own words
        log.log(logging.INFO if isinstance(exc, KeyboardInterrupt) else logging.WARNING,
                "%s: up failed, rolling back", lab)
        _rollback(state)
        raise
    finally:
        state.release()
    return ctx


def _rollback(state: LabState) -> None:
    state.set_phase("failed")
    try:
        teardown.undo(state)
        state.remove_run_dir()
    except Exception:  # keep the first error; the records stay for `uclab clean`
        log.exception("%s: rollback incomplete; `uclab clean` will finish it", state.lab)
