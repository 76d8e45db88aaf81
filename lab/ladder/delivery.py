"""A ladder step is seen where its receiver's tap saw it.

The ladder reads each message once, on the tap that saw it first (its sender's). In a capture
with a tap on the receiver too (every capture of the lab), a message that never reached that
tap was sent and lost on its way: the step is not seen, and its note says where it stopped
(:meth:`lab.ladder.trail.Taps.fate`).
"""

from __future__ import annotations

from lab.ladder.steps import Observation, Status, StepResult
from lab.ladder.trail import Fate, Wire


def undelivered(steps: list[StepResult], wire: Wire) -> None:
    """Mark missing every seen step whose messages were all lost before their receiver."""
    if wire.paths is None:
        return
    for step in steps:
        if not step.seen:
            continue
        fates = [_fate(part, wire) for part in step.parts if part.ok and part.event is not None]
        known = [f for f in fates if f is not None]
        if known and len(known) == len(fates) and all(f.where not in ("delivered", "unknown")
                                                      for f, _ in known):
            step.status = Status.MISSING
            step.notes += [f"{text}: it {fate.text}" for fate, text in known]


def _fate(part: Observation, wire: Wire) -> tuple[Fate, str] | None:
    ev = part.event
    seg = wire.taps.by_frame.get(ev.frame) if ev is not None else None
    if ev is None or seg is None or (seg.src, seg.dst) != (ev.src.ip, ev.dst.ip):
        return None
    fate = wire.taps.fate(seg, wire.paths)
    return fate, f"{part.label} sent (frame {ev.frame}) but never received"
