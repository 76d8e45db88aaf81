"""The required flows of ``docs/spec/ports.md`` as data, resolved against a topology.

Each row names its ends by role and interface (``sfb-edge:external``): the ports are those of
ports.md, the addresses come from the topology, and so does the firewall a flow crosses (the
bridge of the segment both ends are on; none when a NAT stands between them, F7). A topology
with other addresses (a firewall owner's real ones) thus gets the same flows at its addresses.

The baseline firewall policies (``topologies/policies/*.nft``) are rendered from these flows by
:func:`lab.rulesets.render.firewall_policy`, so they allow exactly them (plus the replies of
established connections) and nothing else. A firewall check judges the same flows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from ipaddress import IPv4Address
from typing import Literal

from lab.base.errors import InputError
from lab.topology import Topology
from lab.topology.values import PortRange


@dataclass(frozen=True)
class RequiredFlow:
    """One row of ports.md: a new connection from ``src`` (``sport``) to ``dst``:``dport``."""

    id: str
    firewall: str | None
    proto: Literal["tcp", "udp"]
    src: IPv4Address
    sport: PortRange | None  # None: any source port
    dst: IPv4Address
    dport: PortRange
    why: str


#: ports.md, as written there: (id, from ROLE:INTERFACE, source ports or None, to
#: ROLE:INTERFACE, destination ports, why). All TCP.
FLOW_ROWS: tuple[tuple[str, str, str | None, str, str, str], ...] = (
    ("F1", "sfb-edge:external", None, "expressway-e:external", "5061",
     "SIP from the Skype Edge"),
    ("F2", "expressway-e:external", "25000-29999", "sfb-edge:external", "5061",
     "SIP towards the Edge (new requests from Expressway-E)"),
    ("F3", "expressway-c:eth0", "25000-29999", "expressway-e:internal", "7001",
     "traversal zone, always opened by Expressway-C"),
    ("F4", "expressway-c:eth0", None, "cms:eth0", "5061",
     "SIP neighbour zone Expressway-C to CMS"),
    ("F5", "cms:eth0", None, "expressway-e:internal", "3478",
     "CMS TURN control and ConnectionBind connections"),
    ("F6", "sfb-edge:external", "50000-59999", "expressway-e:external", "24000-29999",
     "the Edge connects in to CMS's relayed address"),
    ("F7", "sfb-client:eth0", None, "sfb-edge:internal", "443",
     "client TURN to its Edge (through sfb-nat)"),
)


@dataclass(frozen=True)
class End:
    """``ROLE:INTERFACE`` resolved: the node, its address there, the segment and its bridge."""

    node: str
    interface: str
    address: IPv4Address
    segment: str
    bridge: str | None


def end_of(topo: Topology, ref: str) -> End:
    """The node of role ``ROLE`` in ``topo`` and its interface ``INTERFACE``."""
    role, _, iface = ref.partition(":")
    node = next((n for n in topo.nodes if n.role == role), None)
    if node is None:
        raise InputError(f"topology {topo.name} has no node with role {role}, which the "
                         f"required flows of ports.md need ({ref})", topo.path,
                         fix=f"add a node with role: {role}")
    found = next((i for i in node.interfaces if i.name == iface and i.address), None)
    if found is None or found.address is None:
        raise InputError(f"node {node.name} ({role}) has no addressed interface {iface}, which "
                         f"the required flows of ports.md need ({ref})", topo.path,
                         fix=f"name that interface of {node.name} {iface}")
    return End(node.name, iface, found.address.ip, found.segment,
               topo.segment(found.segment).bridge)


def required_flows(topo: Topology) -> tuple[RequiredFlow, ...]:
    """The flows of ports.md at ``topo``'s addresses, with the firewall each one crosses."""
    flows = []
    for id_, src_ref, sport, dst_ref, dport, why in FLOW_ROWS:
        src, dst = end_of(topo, src_ref), end_of(topo, dst_ref)
        firewall = src.bridge if src.segment == dst.segment else None
        flows.append(RequiredFlow(id_, firewall, "tcp", src.address,
                                  PortRange.from_text(sport) if sport else None, dst.address,
                                  PortRange.from_text(dport), why))
    return tuple(flows)


@cache
def default_flows() -> tuple[RequiredFlow, ...]:
    """The flows of the default topology (``topologies/sfb-cms-expressway.yaml``)."""
    from lab import topology  # noqa: PLC0415 - loading a file is not an import's business

    return required_flows(topology.load(None))


def flows_through(firewall: str, flows: tuple[RequiredFlow, ...] | None = None
                  ) -> tuple[RequiredFlow, ...]:
    """The required flows (default: the default topology's) that cross ``firewall``, in
    ports.md order."""
    return tuple(f for f in (default_flows() if flows is None else flows)
                 if f.firewall == firewall)
