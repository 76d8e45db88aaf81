"""The user-agent core (RFC 3261 §8, §12-§15): calls as UAC and UAS, re-INVITE, BYE.

Answers come from the application: an incoming INVITE (or re-INVITE) becomes an
:class:`IncomingCall` / :class:`ReInvited` event, and the application later calls
:meth:`UserAgentCore.answer` or :meth:`UserAgentCore.reject` (the asyncio adapter awaits an
async callback in between). ACK for a 2xx is sent by the core, end to end along the route set.
A caller may CANCEL a pending INVITE (§9.1); a CANCEL received for an INVITE still waiting for
the application gets 200, the INVITE 487 and the call ends (§9.2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from lab.proto.sip.address import NameAddr
from lab.proto.sip.core import Endpoint, Flow, Target, new_branch, response_to
from lab.proto.sip.dialog import Dialog
from lab.proto.sip.errors import ProtocolError
from lab.proto.sip.message import Header, Request, Response
from lab.proto.sip.transaction import Action, Transaction
from lab.proto.sip.uri import Uri

log = logging.getLogger(__name__)
SDP = "application/sdp"


@dataclass(frozen=True)
class UaConfig:
    """Who the UA is and where it lives: its address of record, its contact, the address it
    writes in Via, its transport, and the first hop for out-of-dialog requests."""

    aor: Uri
    contact: Uri
    host: str
    port: int
    transport: str = "tls"
    outbound_proxy: Uri | None = None
    display: str | None = None
    alias: bool = False  # RFC 5923: let the next hop reuse our connection


@dataclass(eq=False)
class Call:
    call_id: str
    role: str  # "uac" or "uas"
    dialog: Dialog | None = None
    state: str = "new"  # new, early, confirmed, ended
    local_sdp: bytes = b""
    remote_sdp: bytes = b""
    invite: Request | None = None
    pending: Transaction | None = None  # a server INVITE waiting for the application
    history: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class IncomingCall:
    call: Call
    offer: bytes
    request: Request


@dataclass(frozen=True)
class ReInvited:
    call: Call
    offer: bytes


@dataclass(frozen=True)
class Answered:
    call: Call
    answer: bytes
    reinvite: bool


@dataclass(frozen=True)
class Rejected:
    call: Call
    status: int
    reason: str
    response: Response | None


@dataclass(frozen=True)
class Acked:
    call: Call


@dataclass(frozen=True)
class Ended:
    call: Call
    by_remote: bool


UaEvent = IncomingCall | ReInvited | Answered | Rejected | Acked | Ended


class UserAgentCore(Endpoint):
    def __init__(self, config: UaConfig, ids: Callable[[], str] | None = None) -> None:
        super().__init__(f"ua {config.aor}", ids)
        self.config = config
        self.calls: dict[str, Call] = {}
        self._events: list[UaEvent] = []

    # --- application API -----------------------------------------------------------------
    def invite(self, target: Uri, sdp: bytes, now: float,
               extra: tuple[Header, ...] = ()) -> Call:
        """Place a call to ``target`` (via the outbound proxy if configured)."""
        call_id = f"{self.ids()}@{self.config.host}"
        local = NameAddr(self.config.aor, self.config.display).with_tag(self.ids())
        headers = [Header("Via", self._via()), Header("Max-Forwards", "70")]
        if self.config.outbound_proxy is not None:
            headers.append(Header("Route", f"<{self.config.outbound_proxy}>"))
        headers += [Header("From", str(local)), Header("To", f"<{target}>"),
                    Header("Call-ID", call_id), Header("CSeq", "1 INVITE"),
                    Header("Contact", f"<{self.config.contact}>"), *extra]
        req = Request(tuple(headers), b"", "INVITE", target).with_body(sdp, SDP)
        call = Call(call_id, "uac", local_sdp=sdp, invite=req)
        self.calls[call_id] = call
        hop = self.config.outbound_proxy or target
        self.send_request(req, Target.of_uri(hop, self.config.transport), now)
        return call

    def reinvite(self, call: Call, sdp: bytes, now: float) -> None:
        """A new offer inside the dialog, along its route set (§14.1)."""
        dialog = self._dialog(call)
        req = dialog.request("INVITE", self._via(), contact=self._contact(), body=sdp,
                             content_type=SDP)
        call.local_sdp, call.invite = sdp, req
        self.send_request(req, Target.of_uri(dialog.next_hop(), self.config.transport), now)

    def bye(self, call: Call, now: float) -> None:
        dialog = self._dialog(call)
        req = dialog.request("BYE", self._via())
        call.state = "ending"
        self.send_request(req, Target.of_uri(dialog.next_hop(), self.config.transport), now)

    def cancel(self, call: Call, now: float) -> None:
        """§9.1: give up a call (or re-INVITE) still waiting for its final response; the
        INVITE then ends with 487 (a :class:`Rejected` event), unless a final response won."""
        if call.invite is None:
            raise ProtocolError(f"call {call.call_id} has no INVITE to cancel")
        entry = self.clients.get((call.invite.via[0].branch or "", "INVITE"))
        if entry is not None:  # else: not ours, or finished already
            self.cancel_client(entry[0], now)

    def answer(self, call: Call, sdp: bytes, now: float) -> None:
        """200 OK with ``sdp`` to the INVITE or re-INVITE waiting in ``call.pending``."""
        txn = self._pending(call)
        if call.dialog is None:
            call.dialog = Dialog.as_uas(txn.request, self.ids())
        rr = tuple(Header("Record-Route", v) for v in txn.request.get_all("Record-Route"))
        resp = response_to(txn.request, 200, to_tag=call.dialog.local_tag,
                           extra=(*rr, Header("Contact", str(self._contact()))))
        call.local_sdp, call.remote_sdp = sdp, txn.request.body
        call.state = "confirmed"
        self.respond(txn, resp.with_body(sdp, SDP), now)

    def reject(self, call: Call, status: int, reason: str, now: float,
               extra: tuple[Header, ...] = ()) -> None:
        """A final error response (for example 403 with ms-diagnostics) to a pending INVITE."""
        txn = self._pending(call)
        tag = call.dialog.local_tag if call.dialog else self.ids()
        self.respond(txn, response_to(txn.request, status, reason, tag, extra), now)
        if call.dialog is None:
            call.state = "ended"

    def events(self) -> list[UaEvent]:
        out, self._events = self._events, []
        return out

    # --- core callbacks ------------------------------------------------------------------
    def on_request(self, request: Request, flow: Flow, txn: Transaction | None,
                   now: float) -> None:
        call = self.calls.get(request.call_id)
        if request.method == "ACK":
            if call is not None and call.dialog is not None:
                call.dialog.accept_remote(request)
                self._events.append(Acked(call))
            return
        if txn is None:
            return
        if request.method == "INVITE":
            self._incoming_invite(request, txn, call)
        elif request.method == "CANCEL":
            self._cancelled(request, txn, call, now)
        elif request.method == "BYE" and call is not None:
            call.state = "ended"
            self.respond(txn, response_to(request, 200), now)
            self._events.append(Ended(call, by_remote=True))
        elif request.method in ("OPTIONS", "BYE"):
            status = 200 if request.method == "OPTIONS" else 481
            self.respond(txn, response_to(request, status, to_tag=self.ids()), now)
        else:
            self.respond(txn, response_to(request, 501, to_tag=self.ids()), now)

    def on_response(self, response: Response, txn: Transaction, now: float) -> None:
        call = self.calls.get(response.call_id)
        if call is None or response.status < 200:
            return
        method = response.cseq.method
        if method == "INVITE":
            self._invite_response(call, txn, response, now)
        elif method == "BYE":
            self._events.append(Ended(call, by_remote=False))

    def on_failure(self, txn: Transaction, action: Action, now: float) -> None:
        call = self.calls.get(txn.request.call_id)
        if call is not None and txn.request.method == "INVITE":
            status = 408 if action is Action.TIMEOUT else 503
            self._events.append(Rejected(call, status, action.value, None))

    # --- internals -----------------------------------------------------------------------
    def _incoming_invite(self, request: Request, txn: Transaction, call: Call | None) -> None:
        if call is None:
            call = Call(request.call_id, "uas", invite=request, pending=txn, state="early")
            self.calls[request.call_id] = call
            call.remote_sdp = request.body
            self._events.append(IncomingCall(call, request.body, request))
            return
        if call.dialog is None or not call.dialog.accept_remote(request):
            self.respond(txn, response_to(request, 500, "Out of order"), 0.0)
            return
        call.pending, call.remote_sdp = txn, request.body
        self._events.append(ReInvited(call, request.body))

    def _cancelled(self, cancel: Request, txn: Transaction, call: Call | None,
                   now: float) -> None:
        """§9.2: 200 to the CANCEL; 487 to the INVITE if it still waits for the application."""
        invite = self.pending_invite(cancel)
        tag = call.dialog.local_tag if call is not None and call.dialog else self.ids()
        self.respond(txn, response_to(cancel, 481 if invite is None else 200, to_tag=tag), now)
        if invite is None or call is None or call.pending is not invite:
            return
        call.pending = None
        self.respond(invite, response_to(invite.request, 487, to_tag=tag), now)
        if call.dialog is None:
            call.state = "ended"
            self._events.append(Ended(call, by_remote=True))

    def _invite_response(self, call: Call, txn: Transaction, response: Response,
                         now: float) -> None:
        if response.status >= 300:
            if call.dialog is None:
                call.state = "ended"
            self._events.append(Rejected(call, response.status, response.reason, response))
            return
        reinvite = call.dialog is not None
        if call.dialog is None:
            call.dialog = Dialog.as_uac(txn.request, response)
        elif response.contact:
            call.dialog.remote_target = response.contact[0].uri
        call.state, call.remote_sdp = "confirmed", response.body
        ack = call.dialog.request("ACK", self._via(), seq=txn.request.cseq.seq)
        self.send_stateless(ack, Target.of_uri(call.dialog.next_hop(), self.config.transport))
        self._events.append(Answered(call, response.body, reinvite))

    def _via(self) -> str:
        alias = ";alias" if self.config.alias else ""
        return (f"SIP/2.0/{self.config.transport.upper()} {self.config.host}:{self.config.port}"
                f";branch={new_branch(self.ids)}{alias}")

    def _contact(self) -> NameAddr:
        return NameAddr(self.config.contact)

    def _dialog(self, call: Call) -> Dialog:
        if call.dialog is None:
            raise ProtocolError(f"call {call.call_id} has no dialog yet")
        return call.dialog

    def _pending(self, call: Call) -> Transaction:
        txn, call.pending = call.pending, None
        if txn is None:
            raise ProtocolError(f"call {call.call_id} has no INVITE waiting for an answer")
        return txn
