"""The verdict: did the capture show the whole ladder, and if not, where did it stop and why.

The ladder *stops* at the first missing step (in flow.md order) that leads to a missing goal
(the call set up, the re-INVITE done, media) and of which no consequence was seen (a
consequence seen with a wrong value does not count); a missing 100 Trying is reported but is
not where a call stops. A share INVITE that the Meeting Server rejected stops the ladder at its
200 OK (step 11), with the rejection and its diagnostic headers as the reason. The reasons
come from the capture: error responses, TCP connections that were never answered or were
refused (with the interfaces that saw the SYN, which shows where it was dropped), connections
closed early.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lab.ladder.analysis import Analysis
from lab.ladder.columns import Names
from lab.ladder.explain import explain
from lab.ladder.steps import STEPS, Status, StepResult, descendants

if TYPE_CHECKING:
    from lab.ladder.trail import Wire

INVITE_TO_CMS, OK_FROM_CMS = 5, 11
MAX_REASONS = 12


@dataclass
class Verdict:
    passed: bool
    summary: str
    stopped_at: int | None = None  # the step where the ladder stopped
    node: str | None = None  # the column that should have sent that step
    reasons: list[str] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    out_of_order: list[int] = field(default_factory=list)
    wrong: list[int] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # other traffic's errors, summarised


def stop_point(steps: list[StepResult]) -> StepResult | None:
    by_number = {s.number: s for s in steps}
    missing_goals = {s.number for s in steps if s.spec.goal and not s.seen}
    for step in steps:
        if step.seen:
            continue
        later = descendants(step.number)
        leads_to_goal = step.number in missing_goals or bool(later & missing_goals)
        if leads_to_goal and not _bypassed(step.number, by_number):
            return step
    return None


def _bypassed(number: int, by_number: dict[int, StepResult]) -> bool:
    """A consequence of missing step ``number`` was seen, so the flow went on without it. A
    consequence seen with a wrong value proves nothing about a TURN step: a 200 OK whose SDP
    lacks the relay candidate does not show that the Allocate succeeded (step 9), it shows
    that it did not. It does prove a SIP step of the same dialog: that 200 OK answers the
    INVITE, so the INVITE got there even when its hop was not readable (an undecrypted TLS
    connection)."""
    sip = by_number[number].spec.sip
    todo, done = [number], {number}
    while todo:
        current = todo.pop()
        for spec in STEPS:
            if current not in spec.after or spec.number in done:
                continue
            done.add(spec.number)
            child = by_number[spec.number]
            if child.status is Status.WRONG and not (sip and child.spec.sip):
                continue
            if child.seen:
                return True
            todo.append(spec.number)
    return False


def _rejected(steps: list[StepResult], analysis: Analysis, names: Names) -> StepResult | None:
    """The step a rejection of the share INVITE stands for: the deepest node that received
    the INVITE and answered it with an error (RFC 3261 §21.4) did not send its 200 OK (or, a
    proxy, did not pass the INVITE on: :func:`stop_point` finds that one)."""
    by_number = {s.number: s for s in steps}
    invite = by_number[INVITE_TO_CMS].first
    ok = by_number[OK_FROM_CMS]
    if invite is None or invite.event is None or invite.event.sip is None or ok.seen:
        return None
    inv = invite.event.sip
    for ev in analysis.events:
        s = ev.sip
        if (s is not None and s.status is not None and s.status >= 300 and s.call_id ==
                inv.call_id and s.cseq == inv.cseq and s.cseq_method == "INVITE"
                and names.role_of(ev.src.ip) == ok.spec.sender):
            return ok
    return None


def judge(steps: list[StepResult], analysis: Analysis, names: Names,
          wire: Wire | None = None) -> Verdict:
    missing = [s.number for s in steps if not s.seen]
    disorder = [s.number for s in steps if s.status is Status.OUT_OF_ORDER]
    wrong = [s.number for s in steps if s.status is Status.WRONG]
    stop = _rejected(steps, analysis, names) or stop_point(steps)
    passed = not (missing or disorder or wrong)
    verdict = Verdict(passed, "", missing=missing, out_of_order=disorder, wrong=wrong)
    if stop is not None:
        verdict.stopped_at = stop.number
        verdict.node = names.column(stop.spec.sender).label
        stop.notes += [n for n in explain(stop, steps, analysis, names, wire)
                       if n not in stop.notes]
        verdict.reasons = bounded(stop.notes)
    after = descendants(stop.number) if stop is not None else set()
    for step in steps:
        if step.seen or step is stop:
            continue
        if step.number in after and stop is not None:
            step.notes.append(f"not reached: the ladder stopped at step {stop.number}")
        else:
            step.notes += [n for n in explain(step, steps, analysis, names, wire)
                           if n not in step.notes]
    verdict.summary = _summary(verdict, steps)
    verdict.other = other_errors(steps, analysis)
    return verdict


def bounded(reasons: list[str], limit: int = MAX_REASONS) -> list[str]:
    """At most ``limit`` reasons; the rest counted in one line (the step's notes keep all)."""
    if len(reasons) <= limit:
        return list(reasons)
    return [*reasons[:limit - 1], f"and {len(reasons) - limit + 1} more reasons of the same "
                                  "step (all in the step table and the JSON)"]


def other_errors(steps: list[StepResult], analysis: Analysis, limit: int = 8) -> list[str]:
    """SIP error responses that are not of the share's dialogs (a REGISTER's 401, another
    call's 404): never a reason, counted by status and method, at most ``limit`` lines."""
    calls = {p.event.sip.call_id for s in steps if s.spec.sip for p in s.parts
             if p.event is not None and p.event.sip is not None}
    counts: Counter[tuple[int, str, str]] = Counter()
    for ev in analysis.events:
        s = ev.sip
        if s is not None and s.status is not None and s.status >= 300 and s.call_id not in calls:
            counts[(s.status, s.reason, s.cseq_method)] += 1
    if not counts:
        return []
    items = [f"{status} {reason} x{n} ({method})"
             for (status, reason, method), n in sorted(counts.items())]
    head = "SIP errors of other dialogs (not the share's): "
    lines = [head + ", ".join(items[:limit])]
    if len(items) > limit:
        lines.append(f"and {len(items) - limit} other kinds of SIP error "
                     f"({sum(counts.values())} responses in all)")
    return lines


def _summary(v: Verdict, steps: list[StepResult]) -> str:
    total = len(STEPS)
    seen = sum(1 for s in steps if s.seen)
    if v.passed:
        return f"PASS: all {total} steps of flow.md §3 seen in order"
    parts = [f"FAIL: {seen} of {total} steps seen"]
    if v.stopped_at is not None:
        name = next(s.spec.name for s in steps if s.number == v.stopped_at)
        parts.append(f"the ladder stopped at step {v.stopped_at} ({name}), "
                     f"expected from {v.node}")
    if v.out_of_order:
        parts.append("out of order: " + ", ".join(map(str, v.out_of_order)))
    if v.wrong:
        parts.append("wrong values: " + ", ".join(map(str, v.wrong)))
    other = [n for n in v.missing if n != v.stopped_at]
    if other and v.stopped_at is None:
        parts.append("missing: " + ", ".join(map(str, other)))
    return "; ".join(parts)
