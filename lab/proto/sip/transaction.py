"""SIP transactions (RFC 3261 §17, RFC 6026) over a reliable transport, as a table of data.

``TABLE[(kind, state, event)] -> Step(next_state, actions, timers)``: every transition of the
four machines lives in that one table. On TCP/TLS nothing is retransmitted (timers A, E, G are
for unreliable transports) and the "wait for retransmissions" timers D, K, I, J are zero; B, F,
H and RFC 6026's L and M remain 64*T1. Time is an argument: :meth:`Transaction.handle_timer`
and :meth:`Transaction.next_deadline`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from lab.proto.sip.errors import ProtocolError
from lab.proto.sip.message import Header, Message, Request, Response

T1: Final = 0.5
RELIABLE_TIMERS: Final[dict[str, float]] = {
    "B": 64 * T1, "F": 64 * T1, "H": 64 * T1, "L": 64 * T1, "M": 64 * T1,
    "D": 0.0, "K": 0.0, "I": 0.0, "J": 0.0,
}


class Kind(Enum):
    ICT = "INVITE client"
    NICT = "non-INVITE client"
    IST = "INVITE server"
    NIST = "non-INVITE server"


class Action(Enum):
    SEND_REQUEST = "send the request"
    SEND_ACK = "send ACK for the non-2xx final response"
    SEND_TRYING = "send 100 Trying"
    SEND_RESPONSE = "send the TU's response"
    RESEND_RESPONSE = "send the last response again"
    PASS_TO_TU = "pass the message to the TU"  # noqa: S105 (not a password)
    TIMEOUT = "report a timeout to the TU"
    TRANSPORT_ERROR = "report a transport error to the TU"


@dataclass(frozen=True)
class Step:
    state: str
    actions: tuple[Action, ...] = ()
    timers: tuple[str, ...] = ()


A = Action
ICT, NICT, IST, NIST = Kind.ICT, Kind.NICT, Kind.IST, Kind.NIST
# Events: start, 1xx, 2xx, 3xx-6xx (received responses), request (a retransmission), ack,
# tu-1xx, tu-2xx, tu-3xx-6xx (responses from the TU), timer-X, transport-error.
TABLE: Final[dict[tuple[Kind, str, str], Step]] = {
    # INVITE client, §17.1.1 + RFC 6026 §7.2 (Accepted)
    (ICT, "calling", "start"): Step("calling", (A.SEND_REQUEST,), ("B",)),
    (ICT, "calling", "1xx"): Step("proceeding", (A.PASS_TO_TU,)),
    (ICT, "proceeding", "1xx"): Step("proceeding", (A.PASS_TO_TU,)),
    (ICT, "calling", "2xx"): Step("accepted", (A.PASS_TO_TU,), ("M",)),
    (ICT, "proceeding", "2xx"): Step("accepted", (A.PASS_TO_TU,), ("M",)),
    (ICT, "accepted", "2xx"): Step("accepted", (A.PASS_TO_TU,)),
    (ICT, "calling", "3xx-6xx"): Step("completed", (A.SEND_ACK, A.PASS_TO_TU), ("D",)),
    (ICT, "proceeding", "3xx-6xx"): Step("completed", (A.SEND_ACK, A.PASS_TO_TU), ("D",)),
    (ICT, "completed", "3xx-6xx"): Step("completed", (A.SEND_ACK,)),
    (ICT, "calling", "timer-B"): Step("terminated", (A.TIMEOUT,)),
    (ICT, "completed", "timer-D"): Step("terminated"),
    (ICT, "accepted", "timer-M"): Step("terminated"),
    # non-INVITE client, §17.1.2
    (NICT, "trying", "start"): Step("trying", (A.SEND_REQUEST,), ("F",)),
    (NICT, "trying", "1xx"): Step("proceeding", (A.PASS_TO_TU,)),
    (NICT, "proceeding", "1xx"): Step("proceeding", (A.PASS_TO_TU,)),
    (NICT, "trying", "2xx"): Step("completed", (A.PASS_TO_TU,), ("K",)),
    (NICT, "proceeding", "2xx"): Step("completed", (A.PASS_TO_TU,), ("K",)),
    (NICT, "trying", "3xx-6xx"): Step("completed", (A.PASS_TO_TU,), ("K",)),
    (NICT, "proceeding", "3xx-6xx"): Step("completed", (A.PASS_TO_TU,), ("K",)),
    (NICT, "trying", "timer-F"): Step("terminated", (A.TIMEOUT,)),
    (NICT, "proceeding", "timer-F"): Step("terminated", (A.TIMEOUT,)),
    (NICT, "completed", "timer-K"): Step("terminated"),
    # INVITE server, §17.2.1 + RFC 6026 §7.1 (Accepted)
    (IST, "proceeding", "start"): Step("proceeding", (A.SEND_TRYING, A.PASS_TO_TU)),
    (IST, "proceeding", "request"): Step("proceeding", (A.RESEND_RESPONSE,)),
    (IST, "proceeding", "tu-1xx"): Step("proceeding", (A.SEND_RESPONSE,)),
    (IST, "proceeding", "tu-2xx"): Step("accepted", (A.SEND_RESPONSE,), ("L",)),
    (IST, "proceeding", "tu-3xx-6xx"): Step("completed", (A.SEND_RESPONSE,), ("H",)),
    (IST, "completed", "request"): Step("completed", (A.RESEND_RESPONSE,)),
    (IST, "completed", "ack"): Step("confirmed", (), ("I",)),
    (IST, "completed", "timer-H"): Step("terminated", (A.TIMEOUT,)),
    (IST, "confirmed", "timer-I"): Step("terminated"),
    (IST, "accepted", "request"): Step("accepted"),
    (IST, "accepted", "ack"): Step("accepted", (A.PASS_TO_TU,)),
    (IST, "accepted", "tu-2xx"): Step("accepted", (A.SEND_RESPONSE,)),
    (IST, "accepted", "timer-L"): Step("terminated"),
    # non-INVITE server, §17.2.2
    (NIST, "trying", "start"): Step("trying", (A.PASS_TO_TU,)),
    (NIST, "trying", "tu-1xx"): Step("proceeding", (A.SEND_RESPONSE,)),
    (NIST, "proceeding", "tu-1xx"): Step("proceeding", (A.SEND_RESPONSE,)),
    (NIST, "trying", "tu-2xx"): Step("completed", (A.SEND_RESPONSE,), ("J",)),
    (NIST, "proceeding", "tu-2xx"): Step("completed", (A.SEND_RESPONSE,), ("J",)),
    (NIST, "trying", "tu-3xx-6xx"): Step("completed", (A.SEND_RESPONSE,), ("J",)),
    (NIST, "proceeding", "tu-3xx-6xx"): Step("completed", (A.SEND_RESPONSE,), ("J",)),
    (NIST, "proceeding", "request"): Step("proceeding", (A.RESEND_RESPONSE,)),
    (NIST, "completed", "request"): Step("completed", (A.RESEND_RESPONSE,)),
    (NIST, "completed", "timer-J"): Step("terminated"),
}
INITIAL: Final = {ICT: "calling", NICT: "trying", IST: "proceeding", NIST: "trying"}
ABSORBED: Final = {"1xx", "2xx", "3xx-6xx", "request"}  # late duplicates: ignored, not errors


def response_class(status: int, from_tu: bool = False) -> str:
    name = "1xx" if status < 200 else "2xx" if status < 300 else "3xx-6xx"
    return f"tu-{name}" if from_tu else name


@dataclass(frozen=True)
class Output:
    """What the transaction asks of its owner: an action and the message it concerns."""

    action: Action
    message: Message | None = None


class Transaction:
    """One transaction. ``key`` is its branch (§17.1.3 / §17.2.3 matching is the owner's)."""

    def __init__(self, kind: Kind, request: Request, now: float,
                 timers: dict[str, float] = RELIABLE_TIMERS) -> None:
        self.kind = kind
        self.request = request
        self.state = INITIAL[kind]
        self.durations = timers
        self.deadlines: dict[str, float] = {}
        self.last_response: Response | None = None
        self.outputs = self._fire("start", now, request)

    @property
    def terminated(self) -> bool:
        return self.state == "terminated"

    def receive_response(self, response: Response, now: float) -> list[Output]:
        return self._fire(response_class(response.status), now, response)

    def receive_request(self, request: Request, now: float) -> list[Output]:
        event = "ack" if request.method == "ACK" else "request"
        return self._fire(event, now, request)

    def respond(self, response: Response, now: float) -> list[Output]:
        """The TU's response (server transactions)."""
        return self._fire(response_class(response.status, from_tu=True), now, response)

    def transport_error(self) -> list[Output]:
        self.state = "terminated"
        self.deadlines.clear()
        return [Output(A.TRANSPORT_ERROR, self.request)]

    def next_deadline(self) -> float | None:
        return min(self.deadlines.values(), default=None)

    def handle_timer(self, now: float) -> list[Output]:
        out: list[Output] = []
        for name, when in sorted(self.deadlines.items(), key=lambda kv: kv[1]):
            if when <= now and name in self.deadlines:
                del self.deadlines[name]
                out += self._fire(f"timer-{name}", now, None)
        return out

    def _fire(self, event: str, now: float, message: Message | None) -> list[Output]:
        step = TABLE.get((self.kind, self.state, event))
        if step is None:
            if event in ABSORBED or event.startswith("timer-") or self.state == "terminated":
                return []  # late duplicates, and timers that only matter in other states
            raise ProtocolError(f"{self.kind.value} transaction in {self.state}: no {event}")
        self.state = step.state
        if step.state == "terminated":
            self.deadlines.clear()
        for timer in step.timers:
            self.deadlines[timer] = now + self.durations[timer]
        out: list[Output] = []
        for action in step.actions:
            out.append(self._output(action, message))
        return out

    def _output(self, action: Action, message: Message | None) -> Output:
        if action is A.SEND_REQUEST:
            return Output(action, self.request)
        if action is A.SEND_RESPONSE:
            if not isinstance(message, Response):
                raise ProtocolError("SEND_RESPONSE without a response")
            self.last_response = message
            return Output(action, message)
        if action is A.RESEND_RESPONSE:
            return Output(action, self.last_response)
        if action is A.SEND_ACK:
            if not isinstance(message, Response):
                raise ProtocolError("SEND_ACK without a response")
            return Output(action, ack_for_non_2xx(self.request, message))
        return Output(action, message)


def ack_for_non_2xx(invite: Request, response: Response) -> Request:
    """§17.1.1.3: same Request-URI, Call-ID, From, top Via, Route; To of the response."""
    keep = {"call-id", "from", "route", "max-forwards"}
    headers = [Header("Via", invite.get_all("Via")[0])]
    headers += [h for h in invite.headers if h.name.lower() in keep]
    headers += [Header("To", response.get("To") or ""),
                Header("CSeq", f"{invite.cseq.seq} ACK")]
    return Request(tuple(headers), b"", "ACK", invite.uri)
