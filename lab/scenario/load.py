"""Finding and reading scenario files: ``uclab run NAME`` (``scenarios/NAME.yaml``) or a path.

Every mistake is an :class:`~lab.base.errors.InputError` naming the file, the line and the fix,
before anything is built: unknown keys and bad values (:mod:`lab.base.datafile`), overrides of a
node that has no such settings, an address that is not the node's own, a policy for a node
that is not a firewall or a file that is not there, a fault on a segment, link or node the
topology does not have, a trigger event the daemon never reports. Whether a policy file parses
is nft's (or iptables-nft-restore's) to say: :func:`lab.firewall.prepare` asks them when the run
starts, still before anything is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lab import topology
from lab.base import datafile
from lab.base.datafile import Document, KeyPath
from lab.base.errors import InputError
from lab.scenario.definition import (
    DAEMON_EVENTS,
    CutFault,
    FaultSpec,
    LossFault,
    Scenario,
    ScenarioFile,
    StopFault,
    Trigger,
)
from lab.topology import Topology
from lab.topology.roles import ROLES
from lab.topology.values import ListenAddress, LocalIP

SCENARIO_DIR = Path(__file__).resolve().parent.parent.parent / "scenarios"


def resolve(spec: str | Path) -> Path:
    """A scenario given as a path or as the name of ``scenarios/<name>.yaml``."""
    p = Path(spec)
    if p.suffix in (".yaml", ".yml") or "/" in str(spec):
        return p
    candidate = SCENARIO_DIR / f"{spec}.yaml"
    if not candidate.exists():
        raise InputError(f"no scenario named {spec!r}", "SCENARIO",
                         fix="give a file path or one of: " + ", ".join(names()))
    return candidate


def names() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load(spec: str | Path) -> Scenario:
    """Read and validate a scenario, its topology and everything it changes or breaks."""
    doc = datafile.load(resolve(spec))
    raw = doc.read(ScenarioFile)
    topo = _topology(doc, raw.topology)
    topo = _overrides(doc, raw, topo)
    _check_policies(doc, raw, topo)
    _check_faults(doc, raw.faults, topo)
    if not 0.01 <= raw.time_scale <= 1:
        raise doc.error(("time_scale",), f"{raw.time_scale:g} is out of range",
                        fix="write a factor from 0.01 to 1 (0.1: a 30 s timer runs 3 s; "
                        "1: real time)")
    return Scenario(raw.name, raw.description, doc.path, topo, raw.media, raw.limits,
                    raw.expect, dict(raw.policies), raw.faults, raw.time_scale,
                    tuple(raw.overrides))


def _topology(doc: Document, spec: str) -> Topology:
    topo_spec: str | Path = spec
    if spec.endswith((".yaml", ".yml")) or "/" in spec:
        topo_spec = (doc.path.parent / spec).resolve()
    try:
        path = topology.resolve(topo_spec)
    except InputError as exc:
        raise doc.error(("topology",), exc.message, fix=exc.fix) from None
    if not path.exists():
        raise doc.error(("topology",), f"topology file {path} not found",
                        fix="write a name under topologies/ or a path relative to this file")
    return topology.load(path)


def _overrides(doc: Document, raw: ScenarioFile, topo: Topology) -> Topology:
    """Each node's settings with the scenario's values merged in, key by key."""
    for node_name, deferred in raw.overrides.items():
        keys = deferred.keys
        if not topo.has_node(node_name):
            raise doc.error(keys, f"no node {node_name!r} in topology {topo.name}",
                            fix="override one of: " + ", ".join(
                                n.name for n in topo.nodes if n.settings is not None))
        node = topo.node(node_name)
        schema = ROLES[node.role].settings
        if schema is None or node.settings is None:
            raise doc.error(keys, f"{node_name} ({node.role}) has no settings to override",
                            fix="override a node that runs a daemon: " + ", ".join(
                                n.name for n in topo.nodes if n.settings is not None))
        settings = doc.read(schema, keys, base=node.settings)
        _check_own(doc, keys, settings, node.addresses)
        topo = topo.with_settings(node_name, settings)
    return topo


def _check_own(doc: Document, keys: KeyPath, settings: object, own: tuple[object, ...]) -> None:
    """Listening and relay addresses must stay the node's own (as the topology loader checks)."""
    for where, value in datafile.walk(settings, keys):
        host = value.host if isinstance(value, ListenAddress) else value
        if isinstance(value, ListenAddress | LocalIP) and host not in own and doc.has(where):
            raise doc.error(where, f"{host} is not an address of {keys[-1]}",
                            fix="use one of: " + ", ".join(str(a) for a in own))


def _check_policies(doc: Document, raw: ScenarioFile, topo: Topology) -> None:
    firewalls = [n.name for n in topo.firewalls()]
    for node, path in raw.policies.items():
        keys = ("policies", node)
        if node not in firewalls:
            raise doc.error(keys, f"{node} is not a firewall of topology {topo.name}",
                            fix="give a policy for one of: " + ", ".join(firewalls))
        if not path.is_file():
            raise doc.error(keys, f"policy file {path} not found",
                            fix="write a path relative to this scenario file")


@dataclass(frozen=True)
class _FaultsFile:
    faults: tuple[FaultSpec, ...] = ()


def with_faults(sc: Scenario, texts: Sequence[str]) -> Scenario:
    """``sc`` with more faults, each written as one entry of a scenario's ``faults:`` (the
    command line's ``--fault 'cut: {link: sfb-edge:external, at: cms:answered}'``), checked as
    a scenario file's are; a mistake names ``--fault``, the entry (``faults[0]``: the first)
    and the fix."""
    if not texts:
        return sc
    doc = datafile.parse("faults: [" + ", ".join(f"{{{t}}}" for t in texts) + "]", "--fault")
    faults = doc.read(_FaultsFile).faults
    _check_faults(doc, faults, sc.topology)
    return dataclasses.replace(sc, faults=sc.faults + faults)


def _check_faults(doc: Document, faults: Sequence[FaultSpec], topo: Topology) -> None:
    for i, spec in enumerate(faults):
        keys: KeyPath = ("faults", i)
        fault = spec.kind
        if isinstance(fault, LossFault):
            keys = (*keys, "loss")
            if not any(s.name == fault.segment for s in topo.segments):
                raise doc.error((*keys, "segment"), f"no segment {fault.segment!r}",
                                fix="use one of: " + ", ".join(s.name for s in topo.segments))
        elif isinstance(fault, CutFault):
            keys = (*keys, "cut")
            _check_link(doc, (*keys, "link"), fault.link, topo)
        elif isinstance(fault, StopFault):
            keys = (*keys, "stop")
            _check_daemon(doc, (*keys, "node"), fault.node, topo)
        if fault.at is not None:
            _check_trigger(doc, (*keys, "at"), fault.at, topo)


def _check_link(doc: Document, keys: KeyPath, link: str, topo: Topology) -> None:
    node, _, iface = link.partition(":")
    links = [f"{n.name}:{i.name}" for n in topo.nodes for i in n.interfaces]
    if not topo.has_node(node) or all(i.name != iface for i in topo.node(node).interfaces):
        raise doc.error(keys, f"no interface {link!r} in topology {topo.name}",
                        fix="use one of: " + ", ".join(links))


def _check_daemon(doc: Document, keys: KeyPath, node: str, topo: Topology) -> str:
    """``node`` runs a daemon; its role."""
    daemons = [n.name for n in topo.nodes if n.settings is not None]
    if node not in daemons:
        raise doc.error(keys, f"{node!r} is not a node with a daemon",
                        fix="use one of: " + ", ".join(daemons))
    return topo.node(node).role


def _check_trigger(doc: Document, keys: KeyPath, at: Trigger, topo: Topology) -> None:
    role = _check_daemon(doc, keys, at.node, topo)
    events = DAEMON_EVENTS.get(role, ())
    if at.event not in events:
        raise doc.error(keys, f"the {at.node} daemon ({role}) never reports {at.event!r}",
                        fix=f"use one of: {', '.join(events)}" if events else
                        "trigger on a node that reports events: " + ", ".join(
                            n.name for n in topo.nodes if n.role in DAEMON_EVENTS))
