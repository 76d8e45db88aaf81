"""What a running lab looks like right now: nodes, interfaces, addresses, routes, processes
(daemons) and nftables counters, read from the kernel (never from the topology file).

    st = status.collect("uclab")     # LabStatus, plain data; st.to_json() for machines
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from lab.base.errors import LabError
from lab.base.names import namespace
from lab.base.state import LabState
from lab.kernel import links, namespaces, nftables, processes
from lab.kernel.setns import enter_netns

_TABLE = re.compile(r"^table (\S+) (\S+) \{")
_CHAIN = re.compile(r"^\s*chain (\S+) \{")
_COUNTER = re.compile(r"\s*counter packets (\d+) bytes (\d+)")
_COMMENT = re.compile(r'\s*comment "([^"]*)"')


@dataclass(frozen=True)
class RuleCounter:
    """One nftables rule with a counter, as ``nft list ruleset`` prints it."""

    table: str
    chain: str
    rule: str
    comment: str
    packets: int
    bytes: int


@dataclass(frozen=True)
class ProcessStatus:
    pid: int
    argv: list[str]
    label: str = ""  # the state record's name, if the lab started it


@dataclass
class NodeStatus:
    name: str
    role: str
    namespace: str
    present: bool
    interfaces: list[links.LinkInfo] = field(default_factory=list)
    routes: list[links.RouteInfo] = field(default_factory=list)
    processes: list[ProcessStatus] = field(default_factory=list)
    rules: list[RuleCounter] = field(default_factory=list)


@dataclass
class LabStatus:
    lab: str
    phase: str
    topology: str
    policies: dict[str, str]
    nodes: list[NodeStatus]
    daemons: list[Any] = field(default_factory=list)  # lab.daemons.supervisor.DaemonHealth
    orphan: str = ""  # why nobody owns it any more (built for a run that is gone), or ""

    @property
    def dead_daemons(self) -> list[Any]:
        return [d for d in self.daemons if not d.alive]

    def to_json(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))  # type: ignore[no-any-return]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # addresses, networks


def parse_counters(text: str) -> list[RuleCounter]:
    """Every rule with a counter in ``nft list ruleset`` output, with table and chain."""
    table = chain = ""
    rules = []
    for line in text.splitlines():
        if m := _TABLE.match(line):
            table, chain = f"{m.group(1)} {m.group(2)}", ""
        elif m := _CHAIN.match(line):
            chain = m.group(1)
        elif m := _COUNTER.search(line):
            comment = _COMMENT.search(line)
            rule = _COMMENT.sub("", _COUNTER.sub(" counter", line)).strip()
            rules.append(RuleCounter(table, chain, rule, comment.group(1) if comment else "",
                                     int(m.group(1)), int(m.group(2))))
    return rules


def collect(lab: str) -> LabStatus:
    """The status of lab ``lab`` (``LabError`` if there is no such lab)."""
    state = LabState.load(lab)
    nodes = [NodeStatus(name, role, namespace(lab, name), namespaces.netns_exists(
        namespace(lab, name))) for name, role in state.nodes.items()]
    present = [n for n in nodes if n.present]
    links = namespaces.run_in_thread(lambda: _links(present), name="status")
    rulesets = nftables.list_rulesets([n.namespace for n in present])
    pids = processes.pids_in_namespaces([n.namespace for n in present])
    labels = {(r.pid, r.start): r.name for r in state.records if r.kind == "process"}
    for node in present:
        node.interfaces, node.routes = links.get(node.name, ([], []))
        node.rules = parse_counters(rulesets[node.namespace])
        for pid in sorted(pids[node.namespace]):
            label = labels.get((pid, processes.start_time(pid)), "")
            node.processes.append(ProcessStatus(pid, processes.cmdline(pid), label))
    from lab.daemons.supervisor import health  # noqa: PLC0415 - the node daemons, dead or alive
    from lab.lifecycle.teardown import orphaned  # noqa: PLC0415 - as above

    return LabStatus(lab, state.phase, state.topology, state.policies, nodes, health(state),
                     orphaned(state))


def ports_without_carrier(lab: str) -> list[str]:
    """The bridge ports (``fw-outside:sfb-edge``) that have no carrier right now: the
    interface at their other end is down (a cut link). What the diagnosis needs to tell a
    packet a bridge could not forward from one its policy dropped."""
    state = LabState.load(lab)
    nodes = [NodeStatus(name, role, namespace(lab, name), True) for name, role in
             state.nodes.items()]
    found = namespaces.run_in_thread(lambda: _links(nodes), name="carrier")
    return [f"{node}:{link.name}" for node, (links_, _) in found.items() for link in links_
            if link.master is not None and link.up and not link.carrier]


def _links(nodes: list[NodeStatus]) -> dict[str, tuple[list[links.LinkInfo],
                                                       list[links.RouteInfo]]]:
    out = {}
    for node in nodes:
        try:
            enter_netns(node.namespace)
        except LabError:
            continue
        rtnl = links.Rtnl(node.namespace)
        try:
            out[node.name] = (rtnl.links(), rtnl.routes())
        finally:
            rtnl.close()
    return out
