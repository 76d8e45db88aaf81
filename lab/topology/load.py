"""Loading a topology file: strict reading (:mod:`lab.base.datafile`) then cross checks.

Every mistake is an :class:`~lab.base.errors.InputError` naming the file, the line and the fix: an
unknown key, an address outside its segment, a duplicate address, a link to a missing node, an
interface linked twice or never, a route through nothing, a NAT that cannot work. Nothing is
built from a file that does not pass.

The file's shape (see ``topologies/sfb-cms-expressway.yaml``)::

    name: sfb-cms-expressway
    sip_transport: tls
    segments:
      internet: {subnet: 192.168.1.0/24, bridge: fw-outside,
                 endpoints: [sfb-edge:external, expressway-e:external]}
    nodes:
      sfb-edge:
        role: sfb-edge
        interfaces: {internal: 10.149.4.10/24, external: 192.168.1.252/24}
        settings: {...}          # schema chosen by the role (lab/topology/roles.py)
      fw-outside: {role: firewall, policy: policies/fw-outside.nft}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Literal

from lab.base import datafile
from lab.base.datafile import Deferred, Document, KeyPath
from lab.base.errors import InputError
from lab.topology.model import (
    Endpoint,
    Interface,
    Nat,
    Node,
    PinnedMapping,
    Route,
    Segment,
    Topology,
)
from lab.topology.roles import ROLES
from lab.topology.values import ListenAddress, LocalIP

NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,14}")
IFNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,14}")
TOPOLOGY_DIR = Path(__file__).resolve().parent.parent.parent / "topologies"
DEFAULT_TOPOLOGY = "sfb-cms-expressway"


# -- the file's shape ------------------------------------------------------------------------
@dataclass(frozen=True)
class SegmentFile:
    subnet: IPv4Network
    endpoints: tuple[str, ...] = field(metadata={"doc": "a list of node:interface"})
    bridge: str | None = field(default=None, metadata={"doc": "firewall or switch node"})
    description: str = ""


@dataclass(frozen=True)
class RouteFile:
    to: str = field(metadata={"doc": "'default' or a network such as 10.0.0.0/8"})
    via: IPv4Address = field(metadata={"doc": "a gateway on a connected segment"})


@dataclass(frozen=True)
class NatFile:
    source: IPv4Network
    out: str = field(metadata={"doc": "the outside interface"})
    to: IPv4Address = field(metadata={"doc": "the outside address"})
    pinned: tuple[PinnedMapping, ...] = ()  # read as the model's own type


@dataclass(frozen=True)
class NodeFile:
    role: str
    description: str = ""
    interfaces: dict[str, IPv4Interface] = field(default_factory=dict)
    routes: tuple[RouteFile, ...] = ()
    forwarding: bool = False
    nat: NatFile | None = None
    policy: Path | None = None
    settings: Deferred | None = None


@dataclass(frozen=True)
class TopologyFile:
    name: str
    segments: dict[str, SegmentFile]
    nodes: dict[str, NodeFile]
    description: str = ""
    sip_transport: Literal["tls", "tcp"] = "tls"


# -- entry points ----------------------------------------------------------------------------
def resolve(spec: str | Path | None) -> Path:
    """A topology given as a path or as a name of ``topologies/<name>.yaml``."""
    if spec is None:
        spec = DEFAULT_TOPOLOGY
    p = Path(spec)
    if p.suffix in (".yaml", ".yml") or p.exists() or "/" in str(spec):
        return p
    candidate = TOPOLOGY_DIR / f"{spec}.yaml"
    if not candidate.exists():
        known = sorted(x.stem for x in TOPOLOGY_DIR.glob("*.yaml"))
        raise InputError(f"no topology named {spec!r}", "--topology",
                         fix="give a file path or one of: " + ", ".join(known))
    return candidate


def load(spec: str | Path | None = None) -> Topology:
    """Read, validate and return the topology (default: ``sfb-cms-expressway``)."""
    doc = datafile.load(resolve(spec))
    return from_document(doc)


def from_document(doc: Document) -> Topology:
    raw = doc.read(TopologyFile)
    _check_names(doc, raw)
    nodes = {name: _node(doc, name, nf) for name, nf in raw.nodes.items()}
    segments = [_segment(doc, name, sf, raw) for name, sf in raw.segments.items()]
    _check_overlaps(doc, segments)
    ports = _link_interfaces(doc, raw, segments)
    _check_addresses(doc, raw, segments)
    built = tuple(_finish(doc, raw, nodes[name], ports.get(name, ())) for name in raw.nodes)
    return Topology(name=raw.name, path=doc.path, segments=tuple(segments), nodes=built,
                    description=raw.description, sip_transport=raw.sip_transport)


# -- checks ----------------------------------------------------------------------------------
def _check_names(doc: Document, raw: TopologyFile) -> None:
    for group, names in (("nodes", raw.nodes), ("segments", raw.segments)):
        for name in names:
            if not NAME_RE.fullmatch(name):
                raise InputError(f"{group}.{name}: invalid name", doc.path,
                                 doc.key_line((group, name)),
                                 fix="use 1-15 characters a-z 0-9 '-', starting with a letter "
                                 "(it names namespaces and interfaces)")
    if not raw.nodes:
        raise doc.error(("nodes",), "no nodes", fix="describe at least one node")


def _node(doc: Document, name: str, nf: NodeFile) -> Node:
    keys: KeyPath = ("nodes", name)
    role = ROLES.get(nf.role)
    if role is None:
        raise doc.error((*keys, "role"), f"unknown role {nf.role!r}",
                        fix="use one of: " + ", ".join(ROLES))
    for ifname in nf.interfaces:
        if not IFNAME_RE.fullmatch(ifname) or ifname == "lo":
            raise doc.error((*keys, "interfaces", ifname), f"invalid interface name {ifname!r}",
                            fix="use 1-15 characters A-Z a-z 0-9 _ . -, starting with a letter")
    if role.kind == "bridge":
        for key in ("interfaces", "routes", "forwarding", "nat"):
            if doc.has((*keys, key)):
                raise doc.error((*keys, key), f"a {nf.role} node has no {key}",
                                fix="remove it: a bridge node's ports are made from the "
                                "segments that name it as bridge:")
    if role.policy and nf.policy is None:
        raise doc.error(keys, f"a {nf.role} needs a policy",
                        fix="add 'policy: policies/<name>.nft' (an nftables file)")
    if not role.policy and nf.policy is not None:
        raise doc.error((*keys, "policy"), f"a {nf.role} node takes no policy",
                        fix="remove it (only firewall nodes load a policy)")
    if nf.policy is not None and not nf.policy.is_file():
        raise doc.error((*keys, "policy"), f"policy file {nf.policy} not found",
                        fix="write the nftables file or correct the path (relative to this file)")
    settings = _settings(doc, name, nf, role.settings)
    return Node(name=name, role=nf.role, kind=role.kind, description=nf.description,
                forwarding=nf.forwarding, policy=nf.policy, settings=settings)


def _settings(doc: Document, name: str, nf: NodeFile, schema: type | None) -> object | None:
    keys: KeyPath = ("nodes", name, "settings")
    if schema is None:
        if nf.settings is not None:
            raise doc.error(keys, f"role {nf.role} takes no settings", fix="remove settings:")
        return None
    if nf.settings is None:
        raise doc.error(("nodes", name), f"role {nf.role} needs settings",
                        fix="add 'settings:' with the keys " +
                        ", ".join(datafile.schema_keys(schema)))
    return doc.read(schema, keys)


def _segment(doc: Document, name: str, sf: SegmentFile, raw: TopologyFile) -> Segment:
    keys: KeyPath = ("segments", name)
    ends: list[Endpoint] = []
    for i, text in enumerate(sf.endpoints):
        node, sep, ifname = text.partition(":")
        if not sep or not node or not ifname:
            raise doc.error((*keys, "endpoints", i), f"{text!r} is not node:interface",
                            fix="write it as node:interface, for example sfb-edge:external")
        if node not in raw.nodes:
            raise doc.error((*keys, "endpoints", i), f"links to node {node!r}, which is not "
                            "defined", fix="define it under nodes: or use one of: " +
                            ", ".join(raw.nodes))
        ends.append(Endpoint(node, ifname))
    if sf.bridge is not None:
        if sf.bridge not in raw.nodes:
            raise doc.error((*keys, "bridge"), f"bridge node {sf.bridge!r} is not defined",
                            fix="define a firewall or switch node with that name")
        if ROLES[raw.nodes[sf.bridge].role].kind != "bridge":
            raise doc.error((*keys, "bridge"), f"{sf.bridge} (role {raw.nodes[sf.bridge].role})"
                            " cannot hold a bridge", fix="name a node of role firewall or switch")
    elif len(ends) != 2:
        raise doc.error((*keys, "endpoints"), f"a segment without a bridge joins exactly two "
                        f"interfaces, this one lists {len(ends)}",
                        fix="list two node:interface ends, or add 'bridge: <firewall/switch>'")
    return Segment(name=name, subnet=sf.subnet, endpoints=tuple(ends), bridge=sf.bridge,
                   description=sf.description)


def _check_overlaps(doc: Document, segments: list[Segment]) -> None:
    for i, a in enumerate(segments):
        for b in segments[:i]:
            if a.subnet.overlaps(b.subnet):
                raise doc.error(("segments", a.name, "subnet"),
                                f"{a.subnet} overlaps segment {b.name} ({b.subnet})",
                                fix="give each segment its own subnet")


def _link_interfaces(doc: Document, raw: TopologyFile,
                     segments: list[Segment]) -> dict[str, tuple[Interface, ...]]:
    """Attach every endpoint to its node; make the bridge ports. Returns interfaces per node."""
    used: dict[tuple[str, str], KeyPath] = {}
    ports: dict[str, list[Interface]] = {}
    for seg in segments:
        for i, end in enumerate(seg.endpoints):
            keys: KeyPath = ("segments", seg.name, "endpoints", i)
            _check_endpoint(doc, raw, keys, end, used)
            used[end.node, end.interface] = keys
            if seg.bridge is not None:
                if any(p.name == end.node for p in ports.get(seg.bridge, [])):
                    raise doc.error(keys, f"{end.node} is already a port of {seg.bridge}",
                                    fix="a bridge node reaches each node through one segment")
                port = Interface(name=end.node, segment=seg.name, peer=end.node)
                ports.setdefault(seg.bridge, []).append(port)
    for name, nf in raw.nodes.items():
        for ifname in nf.interfaces:
            if (name, ifname) not in used:
                raise doc.error(("nodes", name, "interfaces", ifname),
                                "interface is not linked to any segment",
                                fix=f"add '{name}:{ifname}' to the endpoints of a segment, "
                                "or remove the interface")
    by_name = {(e.node, e.interface): s.name for s in segments for e in s.endpoints}
    for name, nf in raw.nodes.items():  # hosts keep the interface order of their own entry
        for ifname, addr in nf.interfaces.items():
            ports.setdefault(name, []).append(Interface(ifname, by_name[name, ifname], addr))
    return {k: tuple(v) for k, v in ports.items()}


def _check_endpoint(doc: Document, raw: TopologyFile, keys: KeyPath, end: Endpoint,
                    used: dict[tuple[str, str], KeyPath]) -> None:
    nf = raw.nodes[end.node]
    if ROLES[nf.role].kind == "bridge":
        raise doc.error(keys, f"{end.node} is a {nf.role}: it is not an end of a segment",
                        fix=f"write 'bridge: {end.node}' on the segment instead")
    if end.interface not in nf.interfaces:
        raise doc.error(keys, f"node {end.node} has no interface {end.interface!r}",
                        fix=f"add it under nodes.{end.node}.interfaces or use one of: " +
                        (", ".join(nf.interfaces) or "(none)"))
    if (end.node, end.interface) in used:
        raise doc.error(keys, f"{end} is already linked at "
                        f"{datafile.dotted(used[end.node, end.interface])}",
                        fix="an interface joins one segment: give the node another one")


def _check_addresses(doc: Document, raw: TopologyFile, segments: list[Segment]) -> None:
    seen: dict[IPv4Address, str] = {}
    for seg in segments:
        for end in seg.endpoints:
            addr = raw.nodes[end.node].interfaces[end.interface]
            keys: KeyPath = ("nodes", end.node, "interfaces", end.interface)
            if addr.network != seg.subnet:
                raise doc.error(keys, f"{addr} is outside segment {seg.name} ({seg.subnet})",
                                fix=f"use an address in {seg.subnet} with prefix "
                                f"/{seg.subnet.prefixlen}, or link the interface elsewhere")
            if addr.ip in (seg.subnet.network_address, seg.subnet.broadcast_address):
                raise doc.error(keys, f"{addr.ip} is the network or broadcast address of "
                                f"{seg.subnet}", fix="use a host address")
            if addr.ip in seen:
                raise doc.error(keys, f"duplicate address {addr.ip} (also on {seen[addr.ip]})",
                                fix="give every interface its own address")
            seen[addr.ip] = f"{end.node}:{end.interface}"


def _finish(doc: Document, raw: TopologyFile, node: Node,
            interfaces: tuple[Interface, ...]) -> Node:
    nf = raw.nodes[node.name]
    if node.kind == "bridge" and not interfaces:
        raise doc.error(("nodes", node.name), f"{node.name} bridges no segment",
                        fix=f"add 'bridge: {node.name}' to a segment, or remove the node")
    routes = tuple(_route(doc, node.name, i, r, interfaces) for i, r in enumerate(nf.routes))
    nat = _nat(doc, node.name, nf, interfaces) if nf.nat is not None else None
    _check_local(doc, node, interfaces)
    return Node(name=node.name, role=node.role, kind=node.kind, description=node.description,
                interfaces=interfaces, routes=routes, forwarding=node.forwarding, nat=nat,
                policy=node.policy, settings=node.settings)


def _connected(interfaces: tuple[Interface, ...], addr: IPv4Address) -> Interface | None:
    for i in interfaces:
        if i.address is not None and addr in i.address.network:
            return i
    return None


def _route(doc: Document, name: str, index: int, rf: RouteFile,
           interfaces: tuple[Interface, ...]) -> Route:
    keys: KeyPath = ("nodes", name, "routes", index)
    try:
        dst = IPv4Network("0.0.0.0/0" if rf.to == "default" else rf.to)
    except ValueError as exc:
        raise doc.error((*keys, "to"), f"{rf.to!r} is not a network: {exc}",
                        fix="write 'default' or a network such as 10.48.54.0/24") from None
    if _connected(interfaces, rf.via) is None:
        raise doc.error((*keys, "via"), f"gateway {rf.via} is on none of {name}'s segments",
                        fix="use the address of a neighbour on a connected segment")
    return Route(dst, rf.via)


def _nat(doc: Document, name: str, nf: NodeFile, interfaces: tuple[Interface, ...]) -> Nat:
    assert nf.nat is not None
    keys: KeyPath = ("nodes", name, "nat")
    nat = nf.nat
    out = next((i for i in interfaces if i.name == nat.out), None)
    if out is None or out.address is None:
        raise doc.error((*keys, "out"), f"{name} has no interface {nat.out!r}",
                        fix="name the outside interface: " + ", ".join(i.name for i in interfaces))
    if nat.to != out.address.ip:
        raise doc.error((*keys, "to"), f"{nat.to} is not the address of {nat.out} "
                        f"({out.address.ip})", fix=f"write {out.address.ip}")
    if not nf.forwarding:
        raise doc.error(("nodes", name), "a NAT needs IP forwarding", fix="add 'forwarding: true'")
    for i, pin in enumerate(nat.pinned):
        if pin.inside.host not in nat.source:
            raise doc.error((*keys, "pinned", i, "inside"), f"{pin.inside.host} is outside the "
                            f"NAT source {nat.source}", fix="pin an inside address")
        if pin.outside.host != nat.to:
            raise doc.error((*keys, "pinned", i, "outside"), f"{pin.outside.host} is not the NAT "
                            f"address {nat.to}", fix=f"write {nat.to}:<port>")
    return Nat(nat.source, nat.out, nat.to, nat.pinned)


def _check_local(doc: Document, node: Node, interfaces: tuple[Interface, ...]) -> None:
    """Listening and relay addresses in settings must be this node's own addresses."""
    if node.settings is None:
        return
    own = {i.address.ip for i in interfaces if i.address is not None}
    for keys, value in datafile.walk(node.settings, ("nodes", node.name, "settings")):
        host = value.host if isinstance(value, ListenAddress) else value
        if isinstance(value, ListenAddress | LocalIP) and host not in own:
            raise doc.error(keys, f"{host} is not an address of {node.name}",
                            fix="use one of: " + (", ".join(str(a) for a in sorted(own))
                                                  or "(it has none)"))
