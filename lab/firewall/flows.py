"""What a firewall check judges: the required flows of ports.md and the probes of flows the call
does not need, as data, and the classifier that maps a traced packet to one of them.

The required flows themselves are :func:`lab.rulesets.flows.required_flows` (the rows the baseline
policies are rendered from); :class:`FlowSpec` adds what judging needs: the node whose ruleset
decides (the flow's firewall, or the NAT for F7, which crosses no firewall) and the connections
the call opens for it, each with the ladder step of flow.md §3 it carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any, Literal

from lab.base.errors import InputError
from lab.firewall.trace import FiveTuple, PacketTrace
from lab.rulesets.flows import RequiredFlow, end_of, required_flows
from lab.topology import Topology

#: Per required flow: the connections the call opens, in order, and the flow.md §3 step each
#: one carries (the step that cannot happen when that connection is blocked). None: no step of
#: the canonical ladder needs it (requests Expressway-E starts towards the Edge, e.g. a BYE).
CONNECTIONS: dict[str, tuple[tuple[str, int | None], ...]] = {
    "F1": (("SIP over TLS from the Skype Edge", 1),),
    "F2": (("SIP connection opened by Expressway-E towards the Edge", None),),
    "F3": (("traversal zone connection opened by Expressway-C", 3),),
    "F4": (("SIP connection from Expressway-C to CMS", 5),),
    "F5": (("TURN control connection (Allocate)", 6),
           ("second TURN connection (ConnectionBind)", 19)),
    "F6": (("the Edge's connection to the relayed address", 17),),
    "F7": (("the client's TURN connection to its Edge (its relay candidates)", 17),),
}


@dataclass(frozen=True)
class FlowSpec:
    """A required flow as the check judges it."""

    flow: RequiredFlow
    judged_at: str  # the node whose ruleset decides
    connections: tuple[tuple[str, int | None], ...]  # (label, ladder step) in order

    @property
    def id(self) -> str:
        return self.flow.id

    def matches(self, five: FiveTuple) -> bool:
        f = self.flow
        return (five.proto == f.proto and five.src == f.src and five.dst == f.dst
                and five.dport is not None and five.dport in f.dport
                and (f.sport is None or (five.sport is not None and five.sport in f.sport)))

    def connection(self, index: int) -> tuple[str, int | None]:
        """Label and step of the ``index``-th connection seen (extra ones repeat the last)."""
        return self.connections[min(index, len(self.connections) - 1)]


def flow_specs(topo: Topology, flows: Sequence[RequiredFlow] | None = None
               ) -> tuple[FlowSpec, ...]:
    """The flows of ``topo`` (default: ports.md's at its addresses): a flow without a firewall
    is judged by the NAT it crosses."""
    specs = []
    for f in required_flows(topo) if flows is None else flows:
        node = f.firewall or next((n.name for n in topo.nodes if n.nat is not None
                                   and f.src in n.nat.source), None)
        if node is None:
            raise ValueError(f"{f.id}: no firewall and no NAT on its path in {topo.name}")
        specs.append(FlowSpec(f, node, CONNECTIONS.get(f.id, ((f.why, None),))))
    return tuple(specs)


@dataclass(frozen=True)
class Probe:
    """A flow the call does not need, sent once; a policy that lets it through is too open."""

    id: str
    firewall: str
    proto: Literal["tcp", "udp"]
    node: str  # sent from this node's namespace
    src: IPv4Address
    dst: IPv4Address
    dport: int
    why: str
    sport: int | None = None  # None: any (an ephemeral port)
    via: IPv4Address | None = None  # a route the node lacks, added for the probe only

    def matches(self, five: FiveTuple) -> bool:
        return (five.proto == self.proto and five.src == self.src and five.dst == self.dst
                and five.dport == self.dport
                and (self.sport is None or five.sport == self.sport))

    def describe(self) -> str:
        s = f"{self.src}:{self.sport}" if self.sport is not None else str(self.src)
        return f"{self.proto} {s} -> {self.dst}:{self.dport}"


#: Flows the screen share does not need (ports.md "too open"): the Internet (the Skype Edge's
#: side of fw-outside) to Expressway-E's management and clear SIP, the Internet to the inside
#: LAN, and new connections from the DMZ (Expressway-E's internal side of fw-inside) inwards.
#: (id, sent from ROLE:INTERFACE, proto, to ROLE:INTERFACE, port, why, options): ``src`` a
#: source address of another interface of the sender, ``sport`` a fixed source port, ``via``
#: the address of a gateway the sender lacks a route through (added for the probe only).
PROBE_ROWS: tuple[tuple[str, str, Literal["tcp", "udp"], str, int, str, dict[str, Any]], ...] = (
    ("O1", "sfb-edge:external", "tcp", "expressway-e:external", 22,
     "Internet to Expressway-E management (SSH)", {}),
    ("O2", "sfb-edge:external", "tcp", "expressway-e:external", 80,
     "Internet to Expressway-E web administration (HTTP)", {}),
    ("O3", "sfb-edge:external", "tcp", "expressway-e:external", 443,
     "Internet to Expressway-E web administration (HTTPS)", {}),
    ("O4", "sfb-edge:external", "tcp", "expressway-e:external", 5060,
     "Internet to Expressway-E clear SIP over TCP (the call uses TLS 5061)", {}),
    ("O5", "sfb-edge:external", "udp", "expressway-e:external", 5060,
     "Internet to Expressway-E clear SIP over UDP", {}),
    ("O6", "sfb-edge:external", "tcp", "cms:eth0", 5061,
     "Internet to the inside LAN (CMS SIP)", {"via": "expressway-e:external"}),
    ("O7", "sfb-edge:external", "tcp", "expressway-c:eth0", 22,
     "Internet to the inside LAN (Expressway-C SSH)", {"via": "expressway-e:external"}),
    ("I1", "expressway-e:internal", "tcp", "expressway-c:eth0", 7001,
     "traversal 7001 in the wrong direction (DMZ to Expressway-C)", {}),
    ("I2", "expressway-e:internal", "tcp", "expressway-c:eth0", 26000,
     "traversal reversed: Expressway-E's 7001 opening to Expressway-C's 25000-29999",
     {"sport": 7001}),
    ("I3", "expressway-e:internal", "tcp", "expressway-c:eth0", 5061,
     "DMZ to Expressway-C SIP (Expressway-C opens the traversal zone itself)", {}),
    ("I4", "expressway-e:internal", "tcp", "expressway-c:eth0", 22,
     "DMZ to Expressway-C management (SSH)", {}),
    ("I5", "expressway-e:internal", "tcp", "cms:eth0", 5061,
     "DMZ to CMS SIP (CMS takes calls from Expressway-C only)", {}),
    ("I6", "expressway-e:internal", "tcp", "cms:eth0", 443,
     "DMZ to CMS web administration (HTTPS)", {}),
    ("I7", "expressway-e:internal", "udp", "cms:eth0", 5060,
     "DMZ to CMS clear SIP over UDP", {}),
    ("I8", "expressway-e:internal", "tcp", "cms:eth0", 5061,
     "Internet address to the inside LAN, arriving from the DMZ side",
     {"src": "expressway-e:external"}),
)


def probes(topo: Topology) -> tuple[Probe, ...]:
    """The probes at ``topo``'s addresses; each is judged by the bridge of the segment it is
    sent on."""
    out = []
    for id_, from_ref, proto, to_ref, dport, why, opts in PROBE_ROWS:
        sender, to = end_of(topo, from_ref), end_of(topo, to_ref)
        if sender.bridge is None:
            raise InputError(f"probe {id_}: {from_ref} ({sender.node}:{sender.interface}) is "
                             "on a segment without a firewall", topo.path,
                             fix="bridge that segment through a firewall node")
        src = end_of(topo, opts["src"]).address if "src" in opts else sender.address
        via = end_of(topo, opts["via"]).address if "via" in opts else None
        out.append(Probe(id_, sender.bridge, proto, sender.node, src, to.address, dport, why,
                         opts.get("sport"), via))
    return tuple(out)


@dataclass
class Classified:
    """Traced packets sorted per required flow (the packets that open its connections, and
    the answers to them: TCP SYN+ACK) and per probe (opening packets only); and the rest."""

    flows: dict[str, list[PacketTrace]]
    probes: dict[str, list[PacketTrace]]
    other: list[tuple[str, PacketTrace]]
    flow_answers: dict[str, list[PacketTrace]] = field(default_factory=dict)


def opens_connection(p: PacketTrace) -> bool:
    """A packet that opens a connection: a TCP SYN (without ACK), or any UDP datagram (the
    trace marks only packets of new conntrack entries, and TCP answers)."""
    if p.tuple is None or p.local:
        return False
    if p.tuple.proto == "tcp":
        return "syn" in p.flags and "ack" not in p.flags
    return True


def answers_connection(p: PacketTrace) -> bool:
    """A TCP SYN+ACK: the answer to a connection, travelling the other way."""
    return (p.tuple is not None and not p.local and p.tuple.proto == "tcp"
            and {"syn", "ack"} <= p.flags)


def classify(traces: dict[str, list[PacketTrace]], specs: Iterable[FlowSpec],
             probes: Iterable[Probe]) -> Classified:
    """Map each traced packet at each node to its required flow or probe (answers by their
    reversed 5-tuple). Only the flows judged at that node (and probes of that firewall) are
    candidates."""
    specs, probes = tuple(specs), tuple(probes)
    out = Classified({s.id: [] for s in specs}, {p.id: [] for p in probes}, [],
                     {s.id: [] for s in specs})
    for node, packets in traces.items():
        for p in packets:
            answer = answers_connection(p)
            if not (answer or opens_connection(p)):
                continue
            assert p.tuple is not None
            five = p.tuple.reversed() if answer else p.tuple
            spec = next((s for s in specs if s.judged_at == node and s.matches(five)), None)
            probe = next((x for x in probes if x.firewall == node and x.matches(five)), None)
            if spec is not None:
                (out.flow_answers if answer else out.flows)[spec.id].append(p)
            elif answer:
                continue  # answers to probes and to other traffic say nothing more
            elif probe is not None:
                out.probes[probe.id].append(p)
            else:
                out.other.append((node, p))
    return out
