"""What the proxy and user-agent cores share: flows, targets, outputs, transactions, timers.

A core never touches a socket. The transport layer hands it ``receive(message, flow, now)``
and carries out the :class:`SendSip` items it leaves in :attr:`Endpoint.outbox`: on an existing
connection (``flow``), towards an address (reusing a connection or opening one), or down the
connection a zone's peer opened (``zone``: the traversal zone, a registered client).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from lab.proto.addr import Addr
from lab.proto.sip.errors import ParseError
from lab.proto.sip.message import Header, Message, Request, Response
from lab.proto.sip.transaction import Action, Kind, Output, Transaction
from lab.proto.sip.uri import Uri
from lab.proto.sip.via import MAGIC_COOKIE

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"tls": 5061, "tcp": 5060, "udp": 5060}
REASONS = {100: "Trying", 180: "Ringing", 200: "OK", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 408: "Request Timeout", 413: "Request Entity Too Large",
           481: "Call/Transaction Does Not Exist", 482: "Loop Detected",
           483: "Too Many Hops", 486: "Busy Here", 487: "Request Terminated",
           488: "Not Acceptable Here",
           500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable",
           505: "Version Not Supported"}


@dataclass(frozen=True)
class Flow:
    """A connection as the core knows it: an id, its transport and the side it arrived on."""

    id: int
    transport: str = "tcp"
    side: str = ""


@dataclass(frozen=True)
class Target:
    """Where a message goes: a flow (existing connection), a zone, or an address."""

    transport: str = "tcp"
    host: str = ""
    port: int = 0
    flow: int | None = None
    zone: str | None = None

    @classmethod
    def of_uri(cls, uri: Uri, default_transport: str = "tls") -> Target:
        transport = uri.param("transport") or default_transport
        transport = transport.lower()
        return cls(transport, uri.host, uri.port or DEFAULT_PORTS.get(transport, 5060))


@dataclass(frozen=True)
class SendSip:
    """Send one SIP message to ``target`` (the one action the endpoint hands out)."""

    message: Message
    target: Target


def new_branch(ids: Callable[[], str]) -> str:
    return MAGIC_COOKIE + ids()


def response_to(request: Request, status: int, reason: str | None = None,
                to_tag: str | None = None, extra: tuple[Header, ...] = ()) -> Response:
    """§8.2.6.2: a response copying Via, From, To (adding a tag), Call-ID and CSeq."""
    headers = [Header("Via", v) for v in request.get_all("Via")]
    to = request.get("To") or ""
    if to_tag is not None and status > 100 and request.to.tag is None:
        to = str(request.to.with_tag(to_tag))
    headers += [Header("From", request.get("From") or ""), Header("To", to),
                Header("Call-ID", request.get("Call-ID") or ""),
                Header("CSeq", request.get("CSeq") or "")]
    headers += list(extra)
    return Response(tuple(headers), b"", status, reason or REASONS.get(status, "Unknown"))


def cancel_for(invite: Request) -> Request:
    """§9.1: the CANCEL of a pending INVITE: its Request-URI, top Via (same branch), Route,
    From, To, Call-ID, Max-Forwards and CSeq number, with method CANCEL."""
    keep = {"call-id", "from", "to", "route", "max-forwards"}
    headers = [Header("Via", invite.get_all("Via")[0])]
    headers += [h for h in invite.headers if h.name.lower() in keep]
    headers.append(Header("CSeq", f"{invite.cseq.seq} CANCEL"))
    return Request(tuple(headers), b"", "CANCEL", invite.uri)


class Endpoint:
    """Transactions, timers and the outbox; subclasses decide what requests mean."""

    def __init__(self, name: str, ids: Callable[[], str] | None = None) -> None:
        self.name = name
        self.ids = ids or (lambda: secrets.token_hex(8))
        self.outbox: list[SendSip] = []
        self.clients: dict[tuple[str, str], tuple[Transaction, Target]] = {}  # (branch, method)
        self.servers: dict[tuple[str, str], tuple[Transaction, Flow]] = {}
        self.alias_flows: dict[Addr, Flow] = {}  # RFC 5923 / registered contacts
        self.cancel_on_1xx: set[str] = set()  # branches of INVITEs to CANCEL once 1xx came

    # --- the transport layer's side ----------------------------------------------------
    def receive(self, message: Message, flow: Flow, now: float) -> None:
        """A message parsed from ``flow``. Bad typed headers are answered 400 here."""
        try:
            if isinstance(message, Response):
                self._receive_response(message, now)
            else:
                self._receive_request(message, flow, now)
        except ParseError as exc:
            log.warning("%s: bad message from flow %s: %s", self.name, flow.id, exc)
            if isinstance(message, Request) and message.method != "ACK" and exc.status:
                self.outbox.append(SendSip(response_to(message, exc.status, exc.reason),
                                        Target(flow=flow.id)))

    def actions(self) -> list[SendSip]:
        out, self.outbox = self.outbox, []
        return out

    def next_deadline(self) -> float | None:
        txns = [t for t, _ in self.clients.values()] + [t for t, _ in self.servers.values()]
        return min((d for t in txns if (d := t.next_deadline()) is not None), default=None)

    def handle_timer(self, now: float) -> None:
        for ckey, (txn, target) in list(self.clients.items()):
            self._client_outputs(txn, target, txn.handle_timer(now), now)
            if txn.terminated:
                self.clients.pop(ckey, None)
        for key, (txn, flow) in list(self.servers.items()):
            self._server_outputs(txn, flow, txn.handle_timer(now), now)
            if txn.terminated:
                self.servers.pop(key, None)

    def resolve(self, target: Target) -> Target:
        """An address we may reach through a connection the peer opened (RFC 5923 alias,
        a registered contact) becomes that connection."""
        if target.flow is None and target.zone is None:
            flow = self.alias_flows.get((target.host, target.port))
            if flow is not None:
                return Target(flow.transport, target.host, target.port, flow=flow.id)
        return target

    def flow_down(self, flow_id: int) -> None:
        """The transport closed ``flow``: forget every alias through it."""
        for key, flow in list(self.alias_flows.items()):
            if flow.id == flow_id:
                del self.alias_flows[key]

    def transport_failed(self, target: Target, message: Message, now: float) -> None:
        """The transport could not deliver ``message`` (refused, unreachable, closed)."""
        if isinstance(message, Request) and message.via:
            entry = self.clients.pop((message.via[0].branch or "", message.method), None)
            if entry is not None:
                txn, _ = entry
                self._client_outputs(txn, target, txn.transport_error(), now)

    # --- for subclasses ------------------------------------------------------------------
    def send_request(self, request: Request, target: Target, now: float) -> Transaction:
        """Start a client transaction for ``request`` (its top Via carries the branch)."""
        kind = Kind.ICT if request.method == "INVITE" else Kind.NICT
        txn = Transaction(kind, request, now)
        target = self.resolve(target)
        self.clients[(request.via[0].branch or "", request.method)] = (txn, target)
        self._client_outputs(txn, target, txn.outputs, now)
        return txn

    def cancel_client(self, invite: Transaction, now: float) -> None:
        """§9.1: CANCEL a pending INVITE client transaction, on the connection the INVITE
        took; not before a provisional response came (then on its arrival); nothing once a
        final response came."""
        branch = invite.request.via[0].branch or ""
        entry = self.clients.get((branch, "INVITE"))
        if entry is None or entry[0] is not invite or invite.state not in ("calling",
                                                                            "proceeding"):
            return
        if invite.state == "calling":
            self.cancel_on_1xx.add(branch)
            return
        self.send_request(cancel_for(invite.request), entry[1], now)

    def pending_invite(self, cancel: Request) -> Transaction | None:
        """§9.2: the INVITE server transaction a CANCEL names (same branch), if any."""
        entry = self.servers.get((cancel.via[0].branch or "", "INVITE"))
        return entry[0] if entry is not None else None

    def send_stateless(self, request: Request, target: Target) -> None:
        self.outbox.append(SendSip(request, self.resolve(target)))

    def respond(self, txn: Transaction, response: Response, now: float) -> None:
        key = (txn.request.via[0].branch or "", txn.request.method)  # as _receive_request
        entry = self.servers.get(key)
        if entry is not None and entry[0] is txn:
            self._server_outputs(txn, entry[1], txn.respond(response, now), now)
            if txn.terminated:
                self.servers.pop(key, None)
            return
        log.info("%s: response %s for a finished transaction dropped", self.name,
                 response.status)

    def on_request(self, request: Request, flow: Flow, txn: Transaction | None,
                   now: float) -> None:
        raise NotImplementedError

    def on_response(self, response: Response, txn: Transaction, now: float) -> None:
        raise NotImplementedError

    def on_failure(self, txn: Transaction, action: Action, now: float) -> None:
        """Timeout or transport error of a client transaction."""

    # --- plumbing ------------------------------------------------------------------------
    def _receive_request(self, request: Request, flow: Flow, now: float) -> None:
        top = request.via[0]
        if top.param("alias") is not None:
            port = top.port or DEFAULT_PORTS.get(flow.transport, 5060)
            self.alias_flows[(top.host, port)] = flow
        branch = top.branch or ""
        method = "INVITE" if request.method == "ACK" else request.method
        entry = self.servers.get((branch, method))
        if entry is not None:
            txn, _ = entry
            outs = txn.receive_request(request, now)
            if request.method == "ACK" and not any(o.action is Action.PASS_TO_TU for o in outs):
                self._server_outputs(txn, flow, outs, now)
                return  # ACK for a non-2xx: absorbed by the transaction
            self._server_outputs(txn, flow, [o for o in outs if o.action is not
                                             Action.PASS_TO_TU], now)
            if request.method != "ACK":
                return
        if request.method == "ACK":
            self.on_request(request, flow, None, now)
            return
        kind = Kind.IST if request.method == "INVITE" else Kind.NIST
        txn = Transaction(kind, request, now)
        self.servers[(branch, request.method)] = (txn, flow)
        self._server_outputs(txn, flow, txn.outputs, now)

    def _receive_response(self, response: Response, now: float) -> None:
        branch = response.via[0].branch or "" if response.via else ""
        key = (branch, response.cseq.method)
        entry = self.clients.get(key)
        if entry is None:
            log.info("%s: stray response %s %s dropped", self.name, response.status,
                     response.cseq)
            return
        txn, target = entry
        self._client_outputs(txn, target, txn.receive_response(response, now), now)
        if txn.terminated:
            self.clients.pop(key, None)
        if branch in self.cancel_on_1xx and key[1] == "INVITE":
            self.cancel_on_1xx.discard(branch)
            if response.status < 200:
                self.send_request(cancel_for(txn.request), target, now)

    def _client_outputs(self, txn: Transaction, target: Target, outs: list[Output],
                        now: float) -> None:
        for out in outs:
            if out.action in (Action.SEND_REQUEST, Action.SEND_ACK) and out.message:
                self.outbox.append(SendSip(out.message, target))
            elif out.action is Action.PASS_TO_TU and isinstance(out.message, Response):
                self.on_response(out.message, txn, now)
            elif out.action in (Action.TIMEOUT, Action.TRANSPORT_ERROR):
                self.on_failure(txn, out.action, now)

    def _server_outputs(self, txn: Transaction, flow: Flow, outs: list[Output],
                        now: float) -> None:
        for out in outs:
            target = Target(transport=flow.transport, flow=flow.id)
            if out.action is Action.SEND_TRYING:
                self.outbox.append(SendSip(response_to(txn.request, 100), target))
            elif out.action in (Action.SEND_RESPONSE, Action.RESEND_RESPONSE) and out.message:
                self.outbox.append(SendSip(out.message, target))
            elif out.action is Action.PASS_TO_TU and isinstance(out.message, Request):
                self.on_request(out.message, flow, txn, now)
