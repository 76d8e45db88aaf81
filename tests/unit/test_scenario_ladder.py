"""Where the ladder stops on real captures of the scenario library (``uclab run NAME --pcap``,
kept in tests/data/scenarios/), built as ``uclab run`` builds it (the topology's columns and
expected values): a rejected share INVITE, a 200 OK without a relay candidate, an Allocate
that never left, a ConnectionBind that never came."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lab import topology
from lab.capture import read_capture
from lab.ladder import Ladder, build_ladder
from lab.run.expect import expected_values, ladder_names

DATA = Path(__file__).resolve().parents[1] / "data" / "scenarios"


@cache
def scenario_ladder(name: str) -> Ladder:
    topo = topology.load()
    return build_ladder(read_capture(DATA / f"{name}.pcapng"), names=ladder_names(topo),
                        expect=expected_values(topo))


def test_a_rejected_share_stops_at_the_meeting_servers_200_ok() -> None:
    ladder = scenario_ladder("attendee-cannot-share")
    v = ladder.verdict
    assert (v.stopped_at, v.node) == (11, "Meeting Server")
    assert v.reasons[0].startswith("Meeting Server answered 403 Forbidden")
    assert 'reason="Attendees cannot share in this conference"' in v.reasons[0]
    # the ACKs of the 403 (hop by hop, RFC 3261 §17.1.1.3) are not the ACKs of steps 14-16
    assert [s.number for s in ladder.steps if s.seen] == [1, 2, 3, 4, 5]


def test_a_200_ok_with_a_wrong_answer_is_no_evidence_of_the_allocation() -> None:
    v = scenario_ladder("cms-wrong-turn-password").verdict
    # steps 11-13 carry CMS's answer without the relay candidate (wrong values): the ladder
    # stops at the Allocate success (9), not at the CreatePermission (10)
    assert (v.stopped_at, v.node) == (9, "Expressway-E")
    assert v.wrong == [11, 12, 13]
    assert any("401 Unauthorized" in r for r in v.reasons)


def test_an_allocate_that_never_left_stops_at_6() -> None:
    v = scenario_ladder("turn-3478-udp-only").verdict
    assert (v.stopped_at, v.node) == (6, "Meeting Server")
    assert "10.48.54.230:33347 -> 10.48.54.229:3478 never answered" in v.reasons[0]


def test_no_connection_bind_stops_at_19() -> None:
    v = scenario_ladder("connectionbind-timeout").verdict
    assert (v.stopped_at, v.node) == (19, "Meeting Server")
    assert any("Expressway-E closed the connection 192.168.1.252:53577 -> 192.168.1.229:24000"
               in r for r in v.reasons)
