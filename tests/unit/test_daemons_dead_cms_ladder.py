"""A Meeting Server daemon that dies when the INVITE reaches it (the run's kill test, made here
from the real seed-flow capture cut after step 5), checked with the values a run expects: the
ladder stops at step 6, the Allocate the Meeting Server never sent. Neither the Edge's SIP
connection to Expressway-E (taken for step 17's connect to the relayed address while no
allocation tells where that is) nor an expected value of a step only partly seen may count as
a step seen, which would move the stop point past the Meeting Server's steps."""

from __future__ import annotations

from lab.ladder import build_ladder
from lab.ladder.steps import Status
from tests.ladderhelp import cut_after, flow, flow_ladder, names

EXPECT = {17: {"from": "192.168.1.252:53577", "to": "192.168.1.229:24000"}}


def test_capture_cut_after_the_invite_stops_at_the_allocate() -> None:
    invite5 = flow_ladder().steps[4].ts_ns
    assert invite5 is not None
    ladder = build_ladder(cut_after(flow(), invite5 + 200_000), names=names(), expect=EXPECT)
    by_number = {s.number: s for s in ladder.steps}
    assert [n for n, s in by_number.items() if s.seen] == [1, 2, 3, 4, 5]
    assert by_number[17].status is Status.MISSING  # no connection to the relayed address
    assert ladder.verdict.stopped_at == 6
    assert ladder.verdict.node == "Meeting Server"


def test_a_partial_step_with_a_wrong_value_stays_partial() -> None:
    full = flow_ladder()
    step17 = full.steps[16]
    check = step17.parts[1].ts_ns
    assert check is not None
    # the connect to the relayed address is there, its Binding request not yet
    ladder = build_ladder(cut_after(flow(), check - 1), names=names(),
                          expect={17: {"from": "192.168.1.252:1"}})
    step = ladder.steps[16]
    assert step.status is Status.PARTIAL
    assert any("expected 192.168.1.252:1" in n for n in step.notes)
