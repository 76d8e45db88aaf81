"""The canonical ladder of flow.md §3 as data, and the results of checking a capture against it.

Each step names who sends it (a column role), what it is in a UC engineer's words, and the steps
that must *causally* precede it. The order check uses those causes, not the table's numbering:
on the wire the Edge's connect to the relayed address (17) comes before the ConnectionAttempt
(18), but its Binding request may travel before or after the ConnectionBind (19); an ACK may
still be on its way while the Edge already connects. Such valid interleavings pass; a step seen
before one of its causes fails ("out of order").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from lab.ladder.events import Event

SFB, EXPE, EXPC, CMS = "sfb", "expressway-e", "expressway-c", "cms"


class Status(enum.StrEnum):
    SEEN = "seen"
    PARTIAL = "partial"
    MISSING = "missing"
    OUT_OF_ORDER = "out of order"
    WRONG = "wrong value"


@dataclass(frozen=True)
class StepSpec:
    number: int
    name: str  # in a UC engineer's words
    sender: str
    receiver: str
    message: str  # the message as drawn on the ladder
    after: tuple[int, ...] = ()  # steps that must be seen before this one (causes)
    goal: bool = False  # an end the flow must reach: the ladder "stops" before a missing goal
    sip: bool = False  # a SIP message of the share's dialog (as opposed to TURN, ICE, media)


def _sip(n: int, msg: str, hop: tuple[str, str], what: str, after: tuple[int, ...], *,
         goal: bool = False) -> StepSpec:
    return StepSpec(n, what, hop[0], hop[1], msg, after, goal, sip=True)


_H1, _H2, _H3 = (SFB, EXPE), (EXPE, EXPC), (EXPC, CMS)
_B1, _B2, _B3 = (CMS, EXPC), (EXPC, EXPE), (EXPE, SFB)

#: flow.md §3, one entry per arrow.
STEPS: tuple[StepSpec, ...] = (
    _sip(1, "INVITE", _H1, "Share INVITE from the Skype Edge to Expressway-E", ()),
    _sip(2, "100 Trying", (EXPE, SFB), "100 Trying from Expressway-E", (1,)),
    _sip(3, "INVITE", _H2, "INVITE over the traversal zone to Expressway-C", (1,)),
    _sip(4, "100 Trying", (EXPC, EXPE), "100 Trying from Expressway-C", (3,)),
    _sip(5, "INVITE", _H3, "INVITE from Expressway-C to the Meeting Server", (3,)),
    StepSpec(6, "TURN Allocate request without credentials", CMS, EXPE, "Allocate Request",
             (5,)),
    StepSpec(7, "Allocate rejected with 401 Unauthorized (realm and nonce)", EXPE, CMS,
             "Allocate Error Response 401", (6,)),
    StepSpec(8, "Allocate request with username and message integrity", CMS, EXPE,
             "Allocate Request", (7,)),
    StepSpec(9, "Allocate success: relayed and mapped addresses", EXPE, CMS,
             "Allocate Success Response", (8,)),
    StepSpec(10, "CreatePermission for the Skype Edge's address", CMS, EXPE,
             "CreatePermission Request", (9,)),
    _sip(11, "200 OK", _B1, "200 OK with the answer SDP (host + relay candidate)", (5, 9)),
    _sip(12, "200 OK", _B2, "200 OK from Expressway-C to Expressway-E", (11,)),
    _sip(13, "200 OK", _B3, "200 OK from Expressway-E to the Skype Edge", (12,)),
    _sip(14, "ACK", _H1, "ACK from the Skype Edge", (13,)),
    _sip(15, "ACK", _H2, "ACK over the traversal zone", (14,)),
    _sip(16, "ACK", _H3, "ACK to the Meeting Server", (15,), goal=True),
    StepSpec(17, "Skype Edge connects to the relayed address and sends an ICE check",
             SFB, EXPE, "TCP connect + Binding Request", (13,)),
    StepSpec(18, "ConnectionAttempt: Expressway-E announces the Edge's connection", EXPE, CMS,
             "ConnectionAttempt Indication", (10, 17)),
    StepSpec(19, "ConnectionBind on a new TCP connection to 3478", CMS, EXPE,
             "ConnectionBind Request", (18,)),
    StepSpec(20, "Connections bridged: the Edge's ICE check reaches the Meeting Server",
             EXPE, CMS, "Binding Request", (17, 19)),
    StepSpec(21, "ICE check answered: Binding success to the Skype Edge", CMS, SFB,
             "Binding Success Response", (20,)),
    StepSpec(22, "ICE check from the Meeting Server to the Skype Edge", CMS, SFB,
             "Binding Request", (19,)),
    StepSpec(23, "ICE check answered: Binding success to the Meeting Server", SFB, CMS,
             "Binding Success Response", (22,)),
    _sip(24, "INVITE", _H1, "re-INVITE with the selected candidate pair", (14, 21)),
    _sip(25, "INVITE", _H2, "re-INVITE over the traversal zone", (24,)),
    _sip(26, "INVITE", _H3, "re-INVITE to the Meeting Server", (25,)),
    _sip(27, "200 OK", _B1, "200 OK to the re-INVITE from the Meeting Server", (26,)),
    _sip(28, "200 OK", _B2, "200 OK to the re-INVITE over the traversal zone", (27,)),
    _sip(29, "200 OK", _B3, "200 OK to the re-INVITE to the Skype Edge", (28,)),
    _sip(30, "ACK", _H1, "ACK of the re-INVITE from the Skype Edge", (29,)),
    _sip(31, "ACK", _H2, "ACK of the re-INVITE over the traversal zone", (30,)),
    _sip(32, "ACK", _H3, "ACK of the re-INVITE to the Meeting Server", (31,), goal=True),
    StepSpec(33, "Media both ways over the relay: RTP over TCP (RFC 4571)", SFB, CMS,
             "Media (RTP)", (21, 23), goal=True),
)

BY_NUMBER: dict[int, StepSpec] = {s.number: s for s in STEPS}


@dataclass(frozen=True)
class Observation:
    """One thing looked for within a step (a message, a connect, a media direction)."""

    label: str
    ts_ns: int | None = None
    frame: int | None = None
    event: Event | None = None
    ok: bool = False
    required: bool = True
    note: str = ""


@dataclass
class StepResult:
    spec: StepSpec
    parts: list[Observation]
    values: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    status: Status = Status.MISSING

    @property
    def number(self) -> int:
        return self.spec.number

    @property
    def first(self) -> Observation | None:
        """The observation that dates the step: its first required one seen, else any."""
        seen = [p for p in self.parts if p.ok and p.ts_ns is not None]
        required = [p for p in seen if p.required]
        pool = required or seen
        return min(pool, key=lambda p: p.ts_ns or 0) if pool else None

    @property
    def ts_ns(self) -> int | None:
        first = self.first
        return None if first is None else first.ts_ns

    @property
    def seen(self) -> bool:
        return self.status in (Status.SEEN, Status.OUT_OF_ORDER, Status.WRONG)


def base_status(parts: list[Observation]) -> Status:
    required = [p for p in parts if p.required]
    if required and all(p.ok for p in required):
        return Status.SEEN
    if any(p.ok for p in parts):
        return Status.PARTIAL
    return Status.MISSING


def descendants(number: int) -> set[int]:
    """Every step that (transitively) needs step ``number``."""
    out: set[int] = set()
    todo = [number]
    while todo:
        n = todo.pop()
        for s in STEPS:
            if n in s.after and s.number not in out:
                out.add(s.number)
                todo.append(s.number)
    return out
