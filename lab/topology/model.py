"""The frozen, validated model of a topology (built by :mod:`lab.topology.load`).

Nodes become network namespaces ``<lab>-<node>``; segments become a veth pair (two ends) or a
bridge living in a ``bridge`` node (a firewall or a switch), with one veth per end. Bridge ports
in the bridge node are named after the node at the other end (``fw-inside:cms``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Literal

from lab.base.names import DEFAULT_LAB, namespace
from lab.topology.roles import ROLES
from lab.topology.values import HostPort


@dataclass(frozen=True)
class Interface:
    """A network interface of a node. Bridge ports have no address and name their ``peer``."""

    name: str
    segment: str
    address: IPv4Interface | None = None
    peer: str | None = None  # bridge port: the node at the other end


@dataclass(frozen=True)
class Route:
    dst: IPv4Network
    via: IPv4Address

    @property
    def is_default(self) -> bool:
        return self.dst.prefixlen == 0

    def __str__(self) -> str:
        return f"{'default' if self.is_default else self.dst} via {self.via}"


@dataclass(frozen=True)
class PinnedMapping:
    """A NAT mapping fixed in advance: connections from ``inside`` leave as ``outside``."""

    proto: Literal["tcp", "udp"]
    inside: HostPort
    outside: HostPort


@dataclass(frozen=True)
class Nat:
    """Source NAT of ``source`` leaving through interface ``out`` as address ``to``."""

    source: IPv4Network
    out: str
    to: IPv4Address
    pinned: tuple[PinnedMapping, ...] = ()


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    kind: Literal["host", "bridge"]
    description: str = ""
    interfaces: tuple[Interface, ...] = ()
    routes: tuple[Route, ...] = ()
    forwarding: bool = False
    nat: Nat | None = None
    policy: Path | None = None
    settings: object | None = None

    def interface(self, name: str) -> Interface:
        for i in self.interfaces:
            if i.name == name:
                return i
        raise KeyError(f"{self.name} has no interface {name!r}")

    @property
    def addresses(self) -> tuple[IPv4Address, ...]:
        return tuple(i.address.ip for i in self.interfaces if i.address is not None)

    def ns(self, lab: str = DEFAULT_LAB) -> str:
        return namespace(lab, self.name)


@dataclass(frozen=True)
class Endpoint:
    node: str
    interface: str

    def __str__(self) -> str:
        return f"{self.node}:{self.interface}"


@dataclass(frozen=True)
class Segment:
    """A layer-2 segment: a veth pair (two endpoints) or a bridge in node ``bridge``."""

    name: str
    subnet: IPv4Network
    endpoints: tuple[Endpoint, ...]
    bridge: str | None = None
    description: str = ""

    @property
    def kind(self) -> Literal["veth", "bridge"]:
        return "veth" if self.bridge is None else "bridge"


@dataclass(frozen=True)
class Topology:
    name: str
    path: Path
    segments: tuple[Segment, ...]
    nodes: tuple[Node, ...]
    description: str = ""
    sip_transport: Literal["tls", "tcp"] = "tls"

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r} in topology {self.name}")

    def segment(self, name: str) -> Segment:
        for s in self.segments:
            if s.name == name:
                return s
        raise KeyError(f"no segment {name!r} in topology {self.name}")

    def has_node(self, name: str) -> bool:
        return any(n.name == name for n in self.nodes)

    def firewalls(self) -> Iterator[Node]:
        return (n for n in self.nodes if n.policy is not None)

    def daemon_nodes(self) -> list[Node]:
        """The nodes that run a daemon (their role has one, they have settings), in order."""
        return [n for n in self.nodes
                if n.role in ROLES and ROLES[n.role].daemon and n.settings is not None]

    def namespaces(self, lab: str = DEFAULT_LAB) -> dict[str, str]:
        """``{node: namespace}`` in build order."""
        return {n.name: namespace(lab, n.name) for n in self.nodes}

    def with_policy(self, node: str, policy: Path) -> Topology:
        """The same topology with firewall ``node`` loading ``policy`` instead (``--policy``)."""
        return self._replace_node(node, policy=policy)

    def with_settings(self, node: str, settings: object) -> Topology:
        """The same topology with ``node``'s settings replaced (scenario overrides)."""
        return self._replace_node(node, settings=settings)

    def _replace_node(self, name: str, **changes: object) -> Topology:
        self.node(name)
        nodes = tuple(dataclasses.replace(n, **changes) if n.name == name else n  # type: ignore[arg-type]
                      for n in self.nodes)
        return dataclasses.replace(self, nodes=nodes)
