"""A topology's network on Mininet hosts: which links Mininet makes, and what the lab then
configures inside each host's named namespace (what Mininet has no words for: sysctls, the
firewalls' Linux bridges, the documented addresses and routes).

``uclab up --runtime mininet`` has the lab's own network step make and configure the hosts
and links (:class:`lab.runtime.mininet.MininetRuntime`); a ``Mininet`` object a user built from
:class:`lab.mn.topo.UclabTopo` has its hosts and links made by Mininet, with addresses, and
:func:`lab.mn.attach.start` configures the rest with :func:`configure`, sparing the addresses
Mininet set and adding the ports of hosts the user added on a bridged segment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from lab.base.names import namespace
from lab.kernel import links, namespaces
from lab.kernel.setns import run_in_netns
from lab.lifecycle.network import node_sysctls
from lab.topology import Node, Topology


@dataclass(frozen=True)
class LinkSpec:
    """One veth pair: ``node1:intf1 <-> node2:intf2``. A bridged segment has one per end,
    from the end's interface to a port of the bridge node named after the end's node."""

    segment: str
    node1: str
    intf1: str
    node2: str
    intf2: str


def link_specs(topo: Topology) -> list[LinkSpec]:
    """Every veth pair of ``topo``, in the order of its segments."""
    out = []
    for seg in topo.segments:
        if seg.bridge is None:
            a, b = seg.endpoints
            out.append(LinkSpec(seg.name, a.node, a.interface, b.node, b.interface))
        else:
            out += [LinkSpec(seg.name, end.node, end.interface, seg.bridge, end.node)
                    for end in seg.endpoints]
    return out


def write_sysctls(lab: str, node: Node) -> None:
    """The node's sysctls (:func:`lab.lifecycle.network.node_sysctls`), in its namespace."""
    run_in_netns(namespace(lab, node.name),
                 lambda: namespaces.write_sysctls(node_sysctls(node)), timeout=10)


def configure(lab: str, topo: Topology, extra_ports: Mapping[str, Sequence[str]]
              | None = None) -> None:
    """Bridges (with their ports, and ``extra_ports[segment]``: ports a user added to a
    bridged segment), addresses not there yet, links up, routes: in every node's namespace."""
    extra = extra_ports or {}
    for node in topo.nodes:
        run_in_netns(namespace(lab, node.name), partial(_configure, topo, node, extra),
                     timeout=10)


def _configure(topo: Topology, node: Node, extra: Mapping[str, Sequence[str]]) -> None:
    rtnl = links.Rtnl(node.name)
    try:
        rtnl.up("lo")
        for seg in topo.segments:
            if seg.bridge == node.name:
                rtnl.add_bridge(seg.name)
                for port in extra.get(seg.name, ()):
                    rtnl.set_master(port, seg.name)
                    rtnl.up(port)
                rtnl.up(seg.name)
        present = {link.name: set(link.addresses) for link in rtnl.links()}
        for iface in node.interfaces:
            if iface.peer is not None:
                rtnl.set_master(iface.name, iface.segment)
            if iface.address is not None and iface.address not in present.get(iface.name, ()):
                rtnl.add_address(iface.name, iface.address)
            rtnl.up(iface.name)
        for route in node.routes:
            rtnl.add_route(route.dst, route.via)
    finally:
        rtnl.close()

