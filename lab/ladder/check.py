"""The canonical step check of flow.md §3: every step seen or missing, in causal order, with the
values the capture shows, compared with expected values when a scenario gives them.

    steps = check_steps(analysis, names, expect={9: {"XOR-RELAYED-ADDRESS": "192.168.1.229:24000"}})

Expected values are data from the caller (a scenario file, ``uclab ladder --expect FILE``); this
module holds none. An ``SDP`` expectation is a block of lines that must all appear in the SDP,
in that order, character for character.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lab.base import datafile
from lab.base.errors import InputError
from lab.ladder.analysis import Analysis
from lab.ladder.columns import Names
from lab.ladder.context import Context
from lab.ladder.match_sip import match_sip
from lab.ladder.match_turn import match_turn
from lab.ladder.steps import BY_NUMBER, STEPS, Status, StepResult
from lab.proto.ascii import is_digits

Expectations = Mapping[int, Mapping[str, str]]

#: Two captured interfaces' timestamps may disagree by tens of microseconds (packets stamped on
#: different CPUs); a cause seen less than this after its effect is not called out of order.
ORDER_TOLERANCE_NS = 1_000_000


def check_steps(analysis: Analysis, names: Names,
                expect: Expectations | None = None) -> list[StepResult]:
    """Every canonical step, in flow.md order, with its status, observations and values."""
    ctx = Context(analysis, names)
    found = match_sip(ctx)
    invite5 = found[5].ts_ns
    found.update(match_turn(ctx, invite5))
    steps = [found[s.number] for s in STEPS]
    _order(steps)
    _compare(steps, expect or {})
    return steps


def _order(steps: list[StepResult]) -> None:
    """A seen step whose cause was seen later is out of order (within the tolerance: fine)."""
    by_number = {s.number: s for s in steps}
    for step in steps:
        if not step.seen or step.ts_ns is None:
            continue
        for cause in step.spec.after:
            before = by_number[cause]
            late = before.ts_ns is not None and before.ts_ns > step.ts_ns + ORDER_TOLERANCE_NS
            if before.seen and late:
                step.status = Status.OUT_OF_ORDER
                step.notes.append(f"seen before step {cause} ({before.spec.name}), "
                                  f"which must come first")


def _compare(steps: list[StepResult], expect: Expectations) -> None:
    for step in steps:
        wanted = expect.get(step.number, {})
        for key, value in wanted.items():
            actual = step.values.get(key)
            if actual is None:
                if step.seen:
                    step.status = Status.WRONG
                    step.notes.append(f"{key} not found, expected {value}")
            elif not _matches(key, actual, value):
                if step.seen:  # a partial step stays partial (not "seen with a wrong value")
                    step.status = Status.WRONG
                step.notes.append(f"{key} is {_short(actual)}, expected {_short(value)}")


def _matches(key: str, actual: str, expected: str) -> bool:
    if key != "SDP":
        return actual == expected
    lines = actual.split("\n")
    pos = 0
    for want in (w for w in expected.strip("\n").split("\n") if w.strip()):
        try:
            pos = lines.index(want, pos) + 1
        except ValueError:
            return False
    return True


def _short(text: str) -> str:
    return text if "\n" not in text else text.replace("\n", " | ")


def load_expectations(path: Path | str) -> dict[int, dict[str, str]]:
    """Read ``step number -> {value name: expected text}`` from a YAML file."""
    doc = datafile.load(path)
    raw = doc.read(dict[str, dict[str, str]])
    out: dict[int, dict[str, str]] = {}
    for key, values in raw.items():
        if not is_digits(key) or int(key) not in BY_NUMBER:
            raise InputError(f"{key!r} is not a step number of flow.md §3", path,
                             doc.key_line((key,)), fix="use a step number from 1 to 33")
        out[int(key)] = values
    return out
