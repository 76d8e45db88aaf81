"""SIP error responses as rejections: one per request, made by the party that generated it.

A final response travels back along the request's Via path (RFC 3261 §16.7, §18.2.2): every
proxy passes it on, so the capture holds one copy per hop, each with the same Call-ID, CSeq,
status and To-tag. Those copies are one rejection. Its author is the sender of the earliest
copy: no hop before it carried that response (a proxy that answers for itself, Expressway-E's
``503 Zone not connected``, is the first to send it; a User Agent Server, the Meeting Server's
``403``, is the first too). The hops it crossed are the senders of the later copies, in order.

    for r in rejections(analysis.events, names):
        r.author, r.status, r.reason, r.frame, r.hops, r.diagnostics
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lab.ladder.events import Event, SipInfo


@dataclass(frozen=True)
class Rejection:
    """One error response to one request, with every copy the capture holds."""

    author_ip: str
    author: str  # the column label or node name of its author
    status: int
    reason: str
    method: str  # the request's method (CSeq)
    call_id: str
    cseq: int
    frame: int  # the author's copy
    ts_ns: int
    hops: tuple[str, ...]  # the parties that passed it on, in order
    diagnostics: tuple[str, ...]  # Warning, Reason, ms-diagnostics(-public) of any copy

    @property
    def text(self) -> str:
        line = f"{self.author} answered {self.status} {self.reason}".rstrip()
        line += f" (frame {self.frame})"
        if self.diagnostics:
            line += ": " + "; ".join(self.diagnostics)
        if self.hops:
            line += f"; passed on by {', '.join(self.hops)}"
        return line


def rejections(events: Iterable[Event], name_of: Callable[[str], str], *,
               calls: set[str] | None = None, method: str | None = None) -> list[Rejection]:
    """The rejections in ``events`` (of the Call-IDs ``calls`` and CSeq method ``method`` when
    given), in the order their authors sent them."""
    groups: dict[tuple[str, int, str, int, str], list[tuple[Event, SipInfo]]] = {}
    for ev in events:
        s = ev.sip
        if s is None or s.status is None or s.status < 300:
            continue
        if (calls is not None and s.call_id not in calls) or (
                method is not None and s.cseq_method != method):
            continue
        key = (s.call_id, s.cseq, s.cseq_method, s.status, s.to_tag)
        groups.setdefault(key, []).append((ev, s))
    out = []
    for (call_id, cseq, cseq_method, status, _tag), copies in groups.items():
        copies.sort(key=lambda pair: (pair[0].ts_ns, pair[0].frame))
        first, sip = copies[0]
        author = name_of(first.src.ip)
        hops: list[str] = []
        for ev, _ in copies[1:]:
            who = name_of(ev.src.ip)
            if who != author and who not in hops:
                hops.append(who)
        diagnostics = tuple(dict.fromkeys(d for _, s in copies for d in s.diagnostics))
        out.append(Rejection(first.src.ip, author, status, sip.reason, cseq_method, call_id,
                             cseq, first.frame, first.ts_ns, tuple(hops), diagnostics))
    out.sort(key=lambda r: r.ts_ns)
    return out
