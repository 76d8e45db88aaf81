"""A uclab topology file as a Mininet ``Topo``: a host per node (the node's name), a link per
veth pair with the topology's interface names and addresses.

    net = Mininet(topo=UclabTopo(), controller=None)           # topologies/sfb-cms-expressway
    net = Mininet(topo=UclabTopo("my-lab.yaml"), controller=None)

What a Topo cannot say (the firewalls' bridges and nftables, routes, NAT, the daemons) is done
by :func:`lab.mn.attach.attach` on the built network. :meth:`UclabTopo.add_host_on` adds a
host of one's own on a bridged segment (the "Internet", the video side's LAN).
"""

from __future__ import annotations

from ipaddress import IPv4Interface
from pathlib import Path
from typing import Any

from lab.base.errors import InputError
from lab.mn.network import link_specs
from lab.runtime.mininet import import_mininet
from lab.topology import Topology, load

_Topo: Any = import_mininet().topo.Topo


class UclabTopo(_Topo):  # type: ignore[misc]
    """The Mininet topology of a uclab topology file (a path, a name under ``topologies/``,
    a loaded :class:`~lab.topology.Topology`, or None for the default)."""

    uclab: Topology
    extra_ports: dict[str, list[str]]  #: segment -> bridge ports of hosts added on it

    def build(self, topology: Topology | Path | str | None = None) -> None:
        self.uclab = topology if isinstance(topology, Topology) else load(topology)
        self.extra_ports = {}
        for node in self.uclab.nodes:
            self.addHost(node.name, ip=None)  # addresses are per interface (below)
        for spec in link_specs(self.uclab):
            address = self.uclab.node(spec.node1).interface(spec.intf1).address
            self.addLink(spec.node1, spec.node2, intfName1=spec.intf1, intfName2=spec.intf2,
                         params1={"ip": str(address)} if address is not None else {})

    def add_host_on(self, name: str, segment: str, ip: str, **opts: Any) -> str:
        """Add host ``name`` with ``eth0`` at ``ip`` (``a.b.c.d/len``) on bridged ``segment``:
        its link ends in a port of the segment's bridge node named ``name``, enslaved to the
        bridge by :func:`~lab.mn.attach.attach`, so the firewall's policy judges its traffic."""
        seg = next((s for s in self.uclab.segments if s.name == segment), None)
        if seg is None or seg.bridge is None:
            bridged = [s.name for s in self.uclab.segments if s.bridge is not None]
            raise InputError(f"{segment!r} is not a bridged segment of topology "
                             f"{self.uclab.name}", self.uclab.path,
                             fix="use one of: " + ", ".join(bridged))
        if self.uclab.has_node(name):
            raise InputError(f"{name!r} is a node of topology {self.uclab.name} already",
                             self.uclab.path, fix="give the host another name")
        try:
            if "/" not in ip:
                raise ValueError(ip)
            address = IPv4Interface(ip)
        except ValueError:
            raise InputError(f"{ip!r} is not an address with a prefix length", "ip",
                             fix="write it as 192.168.1.50/24") from None
        if address.network != seg.subnet:
            raise InputError(f"{ip} is not in {segment}'s subnet {seg.subnet}", "ip",
                             fix=f"choose a free address in {seg.subnet}")
        self.addHost(name, ip=None, **opts)
        self.addLink(name, seg.bridge, intfName1="eth0", intfName2=name,
                     params1={"ip": str(address)})
        self.extra_ports.setdefault(segment, []).append(name)
        return name
