"""SIP route planning: the :class:`SipPlan` of each SIP proxy (the Skype Edge, Expressway-E,
Expressway-C), derived from the topology alone.

A plan names the proxy's sides (one per listening address, named after its interface),
listeners (the traversal listener is the ``traversal`` zone) and static routes whose ``match``
lists every domain and every address reached through that route, found by walking the SIP
neighbours of the topology (client -> outbound proxy, proxy -> next hops and traversal peers).
It travels to the daemon inside its configuration (:mod:`lab.daemons.config`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address

from lab.topology import Node, Topology
from lab.topology.roles import (
    ExpresswayCSettings,
    ExpresswayESettings,
    SfbClientSettings,
    SfbEdgeSettings,
)
from lab.topology.values import HostPort, RouteTarget

SIP_PORTS = {"tls": 5061, "tcp": 5060}  # RFC 3261 §19.1.2
TRAVERSAL_ZONE = "traversal"


@dataclass(frozen=True)
class SipSide:
    """One face of a proxy: what it writes in Via and Record-Route there (its interface)."""

    name: str
    host: str
    port: int
    alias: bool = False  # RFC 5923: the next hop may send back over our connection


@dataclass(frozen=True)
class SipListener:
    host: str
    port: int
    side: str
    zone: str | None = None  # connections accepted here are that zone's flow


@dataclass(frozen=True)
class SipRoute:
    """Requests whose next hop is in ``match`` leave on ``side``, to ``next_hop`` or down the
    connection of ``zone``."""

    match: tuple[str, ...]
    side: str
    next_hop: str | None = None  # "address:port"
    zone: str | None = None


@dataclass(frozen=True)
class SipPlan:
    """A SIP proxy's configuration, derived from the topology."""

    sides: tuple[SipSide, ...]
    listeners: tuple[SipListener, ...]
    routes: tuple[SipRoute, ...] = ()
    registrar: dict[str, str] = field(default_factory=dict)  # domain -> zone bound by REGISTER
    local_host: str | None = None  # source address of connections this proxy opens
    source_ports: str | None = None  # "25000-29999"
    traversal_server: str | None = None  # the zone connection this proxy opens and keeps


def owner(topo: Topology, ip: IPv4Address | str) -> Node | None:
    """The node that has address ``ip``."""
    addr = IPv4Address(str(ip))
    return next((n for n in topo.nodes if addr in n.addresses), None)


class SipGraph:
    """Which SIP node talks to which, read from the daemons' settings."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.edges: dict[str, set[str]] = {n.name: set() for n in topo.daemon_nodes()}
        for n in topo.daemon_nodes():
            for hop in self._forward(n):
                peer = owner(topo, hop.host)
                if peer is not None and peer.name in self.edges and peer.name != n.name:
                    self.edges[n.name].add(peer.name)
                    self.edges[peer.name].add(n.name)

    def _forward(self, n: Node) -> list[HostPort]:
        s = n.settings
        if isinstance(s, SfbClientSettings):
            return [s.outbound_proxy]
        if isinstance(s, SfbEdgeSettings | ExpresswayESettings | ExpresswayCSettings):
            hops = [r.next_hop for r in s.sip.routes.values() if r.next_hop is not None]
            if isinstance(s, ExpresswayCSettings):
                hops.append(s.sip.traversal_server)
            return hops
        return []

    def behind(self, proxy: str, first: str) -> list[Node]:
        """``first`` and every SIP node reached from it without passing ``proxy``."""
        seen, todo = {proxy, first}, [first]
        order = [first]
        while todo:
            for peer in sorted(self.edges[todo.pop()]):
                if peer not in seen:
                    seen.add(peer)
                    order.append(peer)
                    todo.append(peer)
        return [self.topo.node(name) for name in order]

    def traversal_clients(self, n: Node) -> list[Node]:
        s = n.settings
        if not isinstance(s, ExpresswayESettings):
            return []
        return [c for c in self.topo.daemon_nodes() if isinstance(c.settings, ExpresswayCSettings)
                and c.settings.sip.traversal_server.pair == s.sip.traversal_listen.pair]

    def clients_of(self, n: Node) -> list[Node]:
        """Skype clients whose outbound proxy is one of ``n``'s listening addresses."""
        s = n.settings
        if not isinstance(s, SfbEdgeSettings):
            return []
        return [c for c in self.topo.daemon_nodes() if isinstance(c.settings, SfbClientSettings)
                and c.settings.outbound_proxy.pair in [hp.pair for hp in s.sip.listen]]

    def waits_for(self, n: Node) -> list[str]:
        s = n.settings
        if isinstance(s, ExpresswayCSettings):
            server = owner(self.topo, s.sip.traversal_server.host)
            return [server.name] if server is not None and server.name in self.edges else []
        return []

    def domains(self) -> set[str]:
        out: set[str] = set()
        for n in self.topo.daemon_nodes():
            s = n.settings
            if isinstance(s, SfbEdgeSettings | ExpresswayESettings | ExpresswayCSettings):
                out |= {d for d in s.sip.routes if d != "*"}
            if isinstance(s, SfbEdgeSettings):
                out.add(s.sip.domain)
        return out

    def plan(self, n: Node) -> SipPlan | None:
        s = n.settings
        if isinstance(s, SfbEdgeSettings | ExpresswayESettings | ExpresswayCSettings):
            return _Planner(self, n).plan()
        return None


def _addresses(nodes: list[Node]) -> list[str]:
    return [str(a) for node in nodes for a in node.addresses]


class _Planner:
    """The :class:`SipPlan` of one proxy."""

    def __init__(self, graph: SipGraph, n: Node) -> None:
        self.graph, self.n = graph, n
        self.transport = graph.topo.sip_transport
        self.sides: list[SipSide] = []
        self.listeners: list[SipListener] = []

    def _iface(self, ip: IPv4Address) -> str:
        return next(i.name for i in self.n.interfaces if i.address is not None
                    and i.address.ip == ip)

    def _listen(self, hp: HostPort, zone: str | None = None, alias: bool = False) -> str:
        side = self._iface(hp.host)
        if all(s.name != side for s in self.sides):
            self.sides.append(SipSide(side, str(hp.host), hp.port, alias))
        self.listeners.append(SipListener(str(hp.host), hp.port, side, zone))
        return side

    def side_towards(self, ip: IPv4Address) -> str:
        """The side whose interface's subnet holds ``ip`` (else the first side)."""
        for i in self.n.interfaces:
            if i.address is not None and ip in i.address.network and any(
                    s.name == i.name for s in self.sides):
                return i.name
        return self.sides[0].name

    def plan(self) -> SipPlan:
        s = self.n.settings
        routes: list[SipRoute] = []
        registrar: dict[str, str] = {}
        traversal = None
        if isinstance(s, SfbEdgeSettings):
            for hp in s.sip.listen:
                self._listen(hp)
            clients = self.graph.clients_of(self.n)
            side = self.side_towards(clients[0].settings.outbound_proxy.host) if clients and \
                isinstance(clients[0].settings, SfbClientSettings) else self.sides[0].name
            registrar[s.sip.domain] = s.sip.domain
            routes.append(SipRoute((s.sip.domain, *_addresses(clients)), side,
                                   zone=s.sip.domain))
        elif isinstance(s, ExpresswayESettings):
            for hp in s.sip.listen:
                self._listen(hp)
            self._listen(s.sip.traversal_listen, zone=TRAVERSAL_ZONE)
        elif isinstance(s, ExpresswayCSettings):
            own = IPv4Address(self.n.addresses[0])
            self._listen(HostPort(own, SIP_PORTS[self.transport]), alias=True)
            traversal = s.sip.traversal_server
        assert isinstance(s, SfbEdgeSettings | ExpresswayESettings | ExpresswayCSettings)
        for domain, target in s.sip.routes.items():
            routes.append(self._route(domain, target, traversal))
        local, ports = self._source(s, routes)
        return SipPlan(tuple(self.sides), tuple(self.listeners), tuple(routes), registrar,
                       local, ports, str(traversal) if traversal is not None else None)

    def _route(self, domain: str, target: RouteTarget, traversal: HostPort | None) -> SipRoute:
        domains = ((domain,) if domain != "*" else tuple(sorted(
            self.graph.domains() - set(self._settings_routes()))))
        if target.next_hop is not None:
            hop = target.next_hop
        elif traversal is not None:  # the zone's client: next hop is the traversal server
            hop = traversal
        else:  # the zone's server: down the connection its client opened
            s = self.n.settings
            assert isinstance(s, ExpresswayESettings)
            peers = self.graph.traversal_clients(self.n)
            behind = [b for p in peers for b in self.graph.behind(self.n.name, p.name)]
            side = self._iface(s.sip.traversal_listen.host)
            return SipRoute((*domains, *_addresses(behind)), side, zone=TRAVERSAL_ZONE)
        peer = owner(self.graph.topo, hop.host)
        behind = self.graph.behind(self.n.name, peer.name) if peer is not None and \
            peer.name in self.graph.edges else []
        match = (*domains, *dict.fromkeys([str(hop.host), *_addresses(behind)]))
        return SipRoute(match, self.side_towards(hop.host), next_hop=str(hop))

    def _settings_routes(self) -> list[str]:
        s = self.n.settings
        assert isinstance(s, SfbEdgeSettings | ExpresswayESettings | ExpresswayCSettings)
        return list(s.sip.routes)

    def _source(self, s: object, routes: list[SipRoute]) -> tuple[str | None, str | None]:
        if not isinstance(s, ExpresswayESettings | ExpresswayCSettings):
            return None, None
        side = next((r.side for r in routes if r.next_hop is not None), self.sides[0].name)
        host = next(x.host for x in self.sides if x.name == side)
        return host, str(s.sip.source_ports)
