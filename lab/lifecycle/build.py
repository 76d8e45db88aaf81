"""Bringing a lab up and down: a sequence of recorded, rollback-able steps.

    state = build.up(topology.load(), lab="uclab")      # raises; nothing is left on failure
    teardown.down("uclab")                              # everything the records name
    teardown.clean()                                    # labs left behind by a crash

``up`` checks everything it can first (the policies with ``nft -c``, names, br_netfilter), then
runs :data:`STEPS` in order. A step is a function ``(BuildContext) -> None`` that records each
object in ``ctx.state`` *before* making it (``ctx.state.add(Record(...))``, then
``ctx.state.confirm(record)``). If any step fails, or the process is killed, the records say
what may exist: :func:`lab.lifecycle.teardown.undo` removes exactly that (processes, then namespaces
with whatever runs in them, found by namespace inode, then paths).

To add a step (PKI, daemons, capture): write ``def my_step(ctx: BuildContext) -> None`` and
append ``Step("name", my_step)`` to :data:`STEPS`. Start processes with
:func:`start_process`, which records them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lab.base.errors import InputError, LabError
from lab.base.names import DEFAULT_LAB, RUN_ROOT, check_lab_name, namespace
from lab.base.state import LabState, Record, RunDir
from lab.kernel import links, namespaces, nftables, processes
from lab.kernel.confinement import check_confinement
from lab.kernel.setns import netns_path
from lab.lifecycle import teardown
from lab.rulesets.render import nat_ruleset
from lab.topology import Node, Topology

log = logging.getLogger(__name__)


@dataclass
class BuildContext:
    """What a step gets: the lab, its topology, its state (records) and run folder."""

    lab: str
    topology: Topology
    state: LabState
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def run(self) -> RunDir:
        return self.state.run

    def ns(self, node: str) -> str:
        return namespace(self.lab, node)


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[BuildContext], None]


# -- what each node gets ---------------------------------------------------------------------
def node_sysctls(node: Node) -> dict[str, int]:
    """Sysctls of a node's namespace, written before its links exist. Forwarding is written
    explicitly (a new namespace may inherit it from the host); IPv6 is off (an IPv4 lab, and
    quiet captures); ICMP errors are not rate-limited (Linux sends about two unreachables per
    destination and then one a second, so a doomed ICE check would fail with "timeout" instead
    of its real reason, "no route"); a firewall's bridge hands IPv4 to the inet hooks
    (br_netfilter)."""
    values = {
        "net.ipv6.conf.all.disable_ipv6": 1,
        "net.ipv6.conf.default.disable_ipv6": 1,
        "net.ipv4.ip_forward": 1 if node.forwarding else 0,
        "net.ipv4.icmp_ratelimit": 0,
    }
    if node.kind == "bridge":
        on = 1 if node.policy is not None else 0
        values["net.bridge.bridge-nf-call-iptables"] = on
        values["net.bridge.bridge-nf-call-ip6tables"] = on
        values["net.bridge.bridge-nf-call-arptables"] = 0
    return values


def nft_jobs(ctx: BuildContext) -> list[nftables.NftJob]:
    """Rendered NAT rulesets and the firewalls' policy files, per namespace."""
    jobs = []
    for node in ctx.topology.nodes:
        if node.nat is not None:
            jobs.append(nftables.NftJob(ctx.ns(node.name), text=nat_ruleset(node)))
        if node.policy is not None:
            jobs.append(nftables.NftJob(ctx.ns(node.name), path=node.policy))
    return jobs


# -- the steps -------------------------------------------------------------------------------
def build_network(ctx: BuildContext) -> None:
    """Namespaces, sysctls, veths (peers born in the other namespace), bridges, addresses,
    routes: all from one worker thread, one netlink socket per namespace."""
    namespaces.run_in_thread(lambda: _Network(ctx).build(), name=f"build:{ctx.lab}")


class _Network:
    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.rtnl: dict[str, links.Rtnl] = {}
        self.fds: dict[str, int] = {}

    def build(self) -> None:
        try:
            for node in self.ctx.topology.nodes:
                self._namespace(node)
            self._links()
            self._configure()
        finally:
            for r in self.rtnl.values():
                r.close()
            for fd in self.fds.values():
                os.close(fd)

    def _namespace(self, node: Node) -> None:
        ns = self.ctx.ns(node.name)
        record = self.ctx.state.add(Record("netns", ns))
        try:
            namespaces.create_netns(ns)  # this thread is now inside it
        except LabError:
            self.ctx.state.drop(record)  # not ours: never touch it
            raise
        self.ctx.state.confirm(record)
        self.fds[node.name] = os.open(netns_path(ns), os.O_RDONLY | os.O_CLOEXEC)
        namespaces.write_sysctls(node_sysctls(node))
        self.rtnl[node.name] = links.Rtnl(ns)

    def _links(self) -> None:
        for seg in self.ctx.topology.segments:
            if seg.bridge is None:
                a, b = seg.endpoints
                self.rtnl[a.node].add_veth(a.interface, b.interface, self.fds[b.node])
                continue
            self.rtnl[seg.bridge].add_bridge(seg.name)
            for end in seg.endpoints:  # the port in the bridge node is named after the node
                self.rtnl[end.node].add_veth(end.interface, end.node, self.fds[seg.bridge])

    def _configure(self) -> None:
        for node in self.ctx.topology.nodes:
            rtnl = self.rtnl[node.name]
            rtnl.refresh()
            rtnl.up("lo")
            for seg in self.ctx.topology.segments:
                if seg.bridge == node.name:
                    rtnl.up(seg.name)
            for iface in node.interfaces:
                if iface.peer is not None:
                    rtnl.set_master(iface.name, iface.segment)
                if iface.address is not None:
                    rtnl.add_address(iface.name, iface.address)
                rtnl.up(iface.name)
            for route in node.routes:
                rtnl.add_route(route.dst, route.via)


def load_rulesets(ctx: BuildContext) -> None:
    """The NAT ruleset and every firewall policy, loaded at once, each in its namespace."""
    nftables.load(nft_jobs(ctx))


def make_pki(ctx: BuildContext) -> None:
    """The lab's CA and the daemons' certificates (:mod:`lab.daemons.supervisor`)."""
    from lab.daemons import supervisor  # noqa: PLC0415 - lab.daemons imports this module

    supervisor.make_pki(ctx)


def start_daemons(ctx: BuildContext) -> None:
    """A daemon in every node that has one, all ready (:mod:`lab.daemons.supervisor`)."""
    from lab.daemons import supervisor  # noqa: PLC0415

    supervisor.start_daemons(ctx)


#: The network alone: namespaces, links, addresses, routes, NAT and firewall rulesets.
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


def start_process(ctx: BuildContext, node: str, label: str, argv: Sequence[str], *,
                  log_path: Path | None = None, env: Mapping[str, str] | None = None) -> Record:
    """Start a long-running process in ``node``'s namespace, recorded before it starts.
    Its output goes to ``logs/<node>.log`` unless ``log_path`` says otherwise."""
    ns = ctx.ns(node)
    record = ctx.state.add(Record("process", label, ns=ns, argv=list(argv)))
    proc = processes.spawn_in_netns(ns, argv, log_path or ctx.run.log(node), env=env)
    ctx.state.confirm(record, pid=proc.pid, start=proc.start)
    return record


# -- up --------------------------------------------------------------------------------------
def with_policies(topo: Topology, policies: Mapping[str, Path]) -> Topology:
    """``--policy NODE=FILE``: NODE must be a firewall of the topology, FILE must exist."""
    for node, path in policies.items():
        if not topo.has_node(node) or topo.node(node).policy is None:
            raise InputError(f"{node} is not a firewall of topology {topo.name}",
                             f"--policy {node}={path}",
                             fix="use one of: " + ", ".join(n.name for n in topo.firewalls()))
        if not path.is_file():
            raise InputError("policy file not found", path, fix="check the path")
        topo = topo.with_policy(node, path.resolve())
    return topo


def check_policies(topo: Topology) -> None:
    """Every policy file must pass ``nft -c`` (in a throwaway namespace): else an InputError
    quoting nft's own message, before anything is built."""
    files = [n.policy for n in topo.firewalls() if n.policy is not None]
    for failure in nftables.check_files(files):
        raise InputError(f"nft rejects this policy:\n{failure.message}", failure.path,
                         failure.line, fix="correct the rule nft points at; `nft -c -f FILE` "
                         "checks a file without loading it")


def preflight(topo: Topology, lab: str, root: Path = RUN_ROOT) -> None:
    """What can be known before building: the names are free, br_netfilter is there."""
    run = RunDir(check_lab_name(lab), root)
    if run.path.exists():
        raise LabError(f"lab {lab} exists already ({run.path}): `uclab status --name {lab}` "
                       f"shows it, `uclab down --name {lab}` removes it")
    taken = [ns for ns in topo.namespaces(lab).values() if namespaces.netns_exists(ns)]
    if taken:
        raise LabError(f"namespaces {', '.join(taken)} exist already and are not this lab's: "
                       f"choose another name with --name, or remove them if they are leftovers")
    if any(n.kind == "bridge" for n in topo.nodes):
        namespaces.ensure_br_netfilter()


def up(topo: Topology, lab: str = DEFAULT_LAB, *, policies: Mapping[str, Path] | None = None,
       steps: Sequence[Step] | None = None, root: Path = RUN_ROOT) -> BuildContext:
    """Build lab ``lab`` from ``topo``. On any failure everything built is removed again and
    the error is raised; on success the lab's phase is ``up``."""
    topo = with_policies(topo, policies or {})
    check_lab_name(lab)
    check_confinement()
    links.preload()
    check_policies(topo)
    preflight(topo, lab, root)
    used = {n.name: n.policy for n in topo.firewalls() if n.policy is not None}
    roles = {n.name: n.role for n in topo.nodes}
    state = LabState.create(lab, topo.path, roles, used, root=root)
    ctx = BuildContext(lab, topo, state)
    try:
        for step in STEPS if steps is None else steps:
            t0 = time.perf_counter()
            log.info("%s: %s", lab, step.name)
            step.run(ctx)
            ctx.timings[step.name] = time.perf_counter() - t0
        state.set_phase("up")
    except BaseException:
        log.warning("%s: up failed, rolling back", lab)
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
