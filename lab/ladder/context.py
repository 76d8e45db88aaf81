"""What the step matchers share: the analysis, the names, and small finders over events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lab.ladder.analysis import Analysis
from lab.ladder.columns import Names
from lab.ladder.events import Connection, Event, Kind, SipInfo, StunInfo
from lab.ladder.steps import BY_NUMBER, Observation, StepResult, base_status


@dataclass
class Context:
    analysis: Analysis
    names: Names

    def role(self, ip: str) -> str | None:
        return self.names.role_of(ip)

    def between(self, ev: Event, sender: str, receiver: str) -> bool:
        return self.role(ev.src.ip) == sender and self.role(ev.dst.ip) == receiver

    def conn(self, ev: Event | None) -> Connection | None:
        if ev is None or ev.conn is None:
            return None
        return self.analysis.connections[ev.conn]

    # --- finders ----------------------------------------------------------------------------

    def sips(self, sender: str, receiver: str, pred: Callable[[SipInfo], bool],
             after_ns: int | None = None) -> list[Event]:
        return [e for e in self.analysis.events
                if e.kind is Kind.SIP and e.sip is not None and self.between(e, sender, receiver)
                and (after_ns is None or e.ts_ns >= after_ns) and pred(e.sip)]

    def stuns(self, pred: Callable[[Event, StunInfo], bool],
              after_ns: int | None = None) -> list[Event]:
        return [e for e in self.analysis.events
                if e.stun is not None and (after_ns is None or e.ts_ns >= after_ns)
                and pred(e, e.stun)]

    def answer(self, request: Event | None, pred: Callable[[StunInfo], bool]) -> Event | None:
        """The first response to STUN ``request`` (same transaction) that satisfies ``pred``."""
        if request is None or request.stun is None:
            return None
        tid = request.stun.transaction_id
        found = self.stuns(lambda e, s: s.transaction_id == tid and s.cls in ("success", "error")
                           and e.src.ip == request.dst.ip and pred(s), request.ts_ns)
        return found[0] if found else None

    # --- results ----------------------------------------------------------------------------

    def result(self, number: int, parts: list[Observation],
               values: dict[str, str] | None = None) -> StepResult:
        res = StepResult(BY_NUMBER[number], parts, dict(values or {}))
        res.status = base_status(parts)
        return res


def observe(label: str, ev: Event | None, *, required: bool = True, note: str = "") -> Observation:
    """An observation of one event (None: looked for, not found)."""
    if ev is None:
        return Observation(label, required=required, note=note)
    return Observation(label, ev.ts_ns, ev.frame, ev, True, required, note)


def first(events: list[Event]) -> Event | None:
    return events[0] if events else None


def sdp_text(body: str) -> str:
    """An SDP body as lines separated by ``\\n`` (CRLF on the wire, RFC 4566 §5)."""
    return "\n".join(body.replace("\r\n", "\n").rstrip("\n").split("\n"))
