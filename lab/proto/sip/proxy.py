"""The stateful proxy core (RFC 3261 §16) with static routes and zones.

Per request: Max-Forwards (0 -> 483), loop detection (our own Via already present -> 482),
removal of our own Route entries (two of them when we double Record-Route, RFC 5658),
next hop by static route, Record-Route for INVITE, our Via, a client transaction; responses
come back through it with our Via removed. ``100 Trying`` is sent by the INVITE server
transaction on every hop. A CANCEL is answered here and cancels the pending INVITE's client
transactions (§16.10); the 487 comes back from downstream like any final response.

A *zone* is reached through a connection its peer opened: the traversal zone (Expressway-C
connects to Expressway-E:7001) or a client that REGISTERs over its connection to the Edge.
Requests for a zone go down that connection; nothing is ever opened towards the zone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from lab.proto.addr import Addr
from lab.proto.ascii import is_digits
from lab.proto.sip.address import NameAddr
from lab.proto.sip.core import (
    DEFAULT_PORTS,
    REASONS,
    Endpoint,
    Flow,
    Target,
    new_branch,
    response_to,
)
from lab.proto.sip.message import Header, Request, Response
from lab.proto.sip.transaction import Action, Transaction
from lab.proto.sip.uri import Uri

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Side:
    """One face of the proxy: the address it writes in Via and Record-Route on that side."""

    name: str
    host: str
    port: int
    transport: str = "tls"
    alias: bool = False  # RFC 5923 ;alias in our Via: the peer may reuse our connection

    def uri(self) -> Uri:
        return Uri("sip", self.host, port=self.port,
                   params=(("transport", self.transport), ("lr", None)))


@dataclass(frozen=True)
class StaticRoute:
    """Next hops whose URI host is in ``match`` go out on ``side`` to ``target`` or ``zone``."""

    match: tuple[str, ...]
    side: str
    target: Target | None = None
    zone: str | None = None


@dataclass(frozen=True)
class ProxyConfig:
    name: str
    sides: tuple[Side, ...]
    routes: tuple[StaticRoute, ...] = ()
    registrar: tuple[tuple[str, str], ...] = ()  # (domain, zone) bound by REGISTER
    own: tuple[Addr, ...] = ()  # further (host, port) that are us (listeners)
    record_route: bool = True


class ProxyCore(Endpoint):
    def __init__(self, config: ProxyConfig, ids: Callable[[], str] | None = None) -> None:
        super().__init__(f"proxy {config.name}", ids)
        self.config = config
        self.sides = {s.name: s for s in config.sides}
        self.own = {(s.host, s.port) for s in config.sides} | set(config.own)
        self.zone_flows: dict[str, Flow] = {}
        self.upstream: dict[int, Transaction] = {}  # id(client txn) -> server txn

    # --- zones ---------------------------------------------------------------------------
    def flow_up(self, zone: str, flow: Flow) -> None:
        """A peer of ``zone`` opened ``flow`` (traversal client connected, client registered)."""
        log.info("%s: zone %s reached through flow %s", self.name, zone, flow.id)
        self.zone_flows[zone] = flow

    def flow_down(self, flow_id: int) -> None:
        super().flow_down(flow_id)
        for zone, flow in list(self.zone_flows.items()):
            if flow.id == flow_id:
                del self.zone_flows[zone]
                log.info("%s: zone %s lost its flow %s", self.name, zone, flow_id)

    # --- requests ------------------------------------------------------------------------
    def on_request(  # noqa: PLR0911 (one return per refusal reason, §16.3)
        self, request: Request, flow: Flow, txn: Transaction | None, now: float
    ) -> None:
        def refuse(status: int, reason: str | None = None) -> None:
            log.warning("%s: %s %s on flow %s refused: %s %s", self.name, request.method,
                        request.call_id, flow.id, status, reason or REASONS.get(status, ""))
            if txn is not None:
                self.respond(txn, response_to(request, status, reason, self.ids()), now)

        if any((v.host, v.port or DEFAULT_PORTS.get(v.transport.lower(), 5060)) in self.own
               for v in request.via):
            return refuse(482)
        hops = request.max_forwards
        if hops == 0:
            return refuse(483)
        if request.method == "CANCEL":
            return self._cancel(request, txn, now)
        if request.method == "REGISTER" and self._register(request, flow, txn, now):
            return None
        routes = request.route
        while routes and self._is_own(routes[0].uri):
            routes = routes[1:]
        hop = routes[0].uri if routes else request.uri
        found = self._lookup(hop)
        if found is None:
            return refuse(404, "No route")
        target, side = found
        if target is None:
            return refuse(503, "Zone not connected")
        fwd = self._forward(request, flow, side, routes=routes,
                            hops=70 if hops is None else hops - 1)
        if request.method == "ACK":
            self.send_stateless(fwd, target)
            return None
        client = self.send_request(fwd, target, now)
        if txn is not None:
            self.upstream[id(client)] = txn
        return None

    def _forward(self, request: Request, flow: Flow, side: Side, *, routes: list[NameAddr],
                 hops: int) -> Request:
        fwd = request.with_header("Max-Forwards", str(hops))
        fwd = fwd.with_list("Route", [str(r) for r in routes])
        if self.config.record_route and request.method == "INVITE" and not request.to.tag:
            ingress = self.sides.get(flow.side, side)
            if ingress.name != side.name:
                fwd = fwd.prepend("Record-Route", f"<{ingress.uri()}>")
            fwd = fwd.prepend("Record-Route", f"<{side.uri()}>")
        alias = ";alias" if side.alias else ""
        via = (f"SIP/2.0/{side.transport.upper()} {side.host}:{side.port}"
               f";branch={new_branch(self.ids)}{alias}")
        return fwd.prepend("Via", via)

    def _is_own(self, uri: Uri) -> bool:
        port = uri.port or DEFAULT_PORTS.get(uri.transport, 5060)
        return (uri.host, port) in self.own

    def _lookup(self, hop: Uri) -> tuple[Target | None, Side] | None:  # noqa: PLR0911
        default_side = self.config.sides[0]
        port = hop.port or DEFAULT_PORTS.get(hop.transport, 5060)
        flow = self.alias_flows.get((hop.host, port))
        for route in self.config.routes:
            if hop.host.lower() not in route.match:
                continue
            side = self.sides[route.side]
            if flow is not None:
                return Target(flow.transport, flow=flow.id), side
            if route.zone is not None:
                zflow = self.zone_flows.get(route.zone)
                return (Target(zflow.transport, flow=zflow.id) if zflow else None), side
            if route.target is not None:
                return route.target, side
            return Target.of_uri(hop, side.transport), side
        if flow is not None:
            return Target(flow.transport, flow=flow.id), default_side
        if is_digits(hop.host.replace(".", "")):
            return Target.of_uri(hop, default_side.transport), default_side
        return None

    def _cancel(self, cancel: Request, txn: Transaction | None, now: float) -> None:
        """§16.10: 200 to the CANCEL and a CANCEL down every pending branch of its INVITE;
        481 when no INVITE matches (we do not forward it statelessly)."""
        invite = self.pending_invite(cancel)
        if txn is None:
            return
        if invite is None:
            log.info("%s: CANCEL %s matches no INVITE", self.name, cancel.call_id)
            self.respond(txn, response_to(cancel, 481, to_tag=self.ids()), now)
            return
        self.respond(txn, response_to(cancel, 200, to_tag=self.ids()), now)
        if invite.state != "proceeding":
            return  # a final response was sent already: nothing left to cancel
        for client, _ in list(self.clients.values()):
            if self.upstream.get(id(client)) is invite and client.request.method == "INVITE":
                log.info("%s: CANCEL %s forwarded", self.name, cancel.call_id)
                self.cancel_client(client, now)

    def _register(self, request: Request, flow: Flow, txn: Transaction | None,
                  now: float) -> bool:
        zone = dict(self.config.registrar).get(request.uri.host.lower())
        if zone is None or txn is None:
            return False
        self.flow_up(zone, flow)
        for contact in request.contact:
            uri = contact.uri
            self.alias_flows[(uri.host, uri.port or DEFAULT_PORTS[flow.transport])] = flow
        extra = tuple(Header("Contact", f"{c};expires=3600") for c in request.get_all("Contact"))
        self.respond(txn, response_to(request, 200, to_tag=self.ids(), extra=extra), now)
        return True

    # --- responses -----------------------------------------------------------------------
    def on_response(self, response: Response, txn: Transaction, now: float) -> None:
        server = self.upstream.get(id(txn))
        if server is None or response.status == 100:
            return
        vias = response.get_all("Via")[1:]
        if not vias:
            return
        if (response.status >= 200 and txn.kind.name == "NICT") or response.status >= 300:
            self.upstream.pop(id(txn), None)
        self.respond(server, response.with_list("Via", vias), now)

    def on_failure(self, txn: Transaction, action: Action, now: float) -> None:
        server = self.upstream.pop(id(txn), None)
        if server is not None:
            status = 408 if action is Action.TIMEOUT else 503
            self.respond(server, response_to(server.request, status, to_tag=self.ids()), now)
