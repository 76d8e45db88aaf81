"""The ladder of a real capture of the seed flow (tests/data/ladder): every step of flow.md §3
seen in order with the values the topology implies (lab.run.expect), media both ways, and the
same columns whether they come from a names file or are inferred from the traffic."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.capture import Capture
from lab.ladder import Status, build_ladder
from lab.ladder.events import Kind
from tests.ladderhelp import (
    CMS,
    EDGE_OUT,
    EXPE_IN,
    EXPE_OUT,
    by_frame,
    flow,
    flow_ladder,
    names,
    renumber,
)

#: flow.md §4.1 / §4.2 lines the real stacks computed (test data, read against the capture).
OFFER_LINES = """\
a=candidate:1 1 TCP-PASS 2120613887 192.168.251.128 18027 typ host
a=candidate:3 1 TCP-PASS 174455807 192.168.1.252 53577 typ relay raddr 10.149.4.201 rport 65417
a=candidate:4 2 TCP-ACT 174847998 192.168.1.252 51577 typ relay raddr 10.149.4.201 rport 65417
a=candidate:5 2 TCP-ACT 1684796926 10.149.4.201 65417 typ srflx raddr 192.168.251.128 rport 17676
a=x-applicationsharing-role:sharer"""
ANSWER_LINES = """\
m=applicationsharing 24000 TCP/RTP/SAVP 127
a=candidate:1 1 TCP-PASS 2130706431 10.48.54.230 38547 typ host
a=candidate:2 1 TCP-PASS 352321535 192.168.1.229 24000 typ relay raddr 10.48.54.230 rport 33347
a=x-applicationsharing-role:viewer"""


def test_every_step_seen_in_order() -> None:
    ladder = flow_ladder()
    assert [s.number for s in ladder.steps] == list(range(1, 34))
    assert {s.status for s in ladder.steps} == {Status.SEEN}
    assert ladder.verdict.passed and ladder.verdict.stopped_at is None
    assert ladder.verdict.summary == "PASS: all 33 steps of flow.md §3 seen in order"


def test_issue_6_point_4_values() -> None:
    v = {s.number: s.values for s in flow_ladder().steps}
    assert v[6]["REQUESTED-TRANSPORT"] == "6 (TCP)" and "USERNAME" not in v[6]
    assert v[7]["ERROR-CODE"] == "401 Unauthorized" and v[7]["NONCE"] == "present"
    assert v[9]["XOR-RELAYED-ADDRESS"] == f"{EXPE_OUT}:24000"
    assert v[9]["XOR-MAPPED-ADDRESS"] == f"{CMS}:33347"
    assert EDGE_OUT in v[10]["permission for"].split(", ")
    assert v[17]["from"] == f"{EDGE_OUT}:53577" and v[17]["to"] == f"{EXPE_OUT}:24000"
    assert v[17]["first bytes"] == "00 6c 00 01"
    assert v[18]["XOR-PEER-ADDRESS"] == f"{EDGE_OUT}:53577"
    assert v[19]["from"] == f"{CMS}:33348" and v[19]["new connection"] == "yes"
    assert v[19]["CONNECTION-ID"] == v[18]["CONNECTION-ID"]
    assert v[20]["same transaction as step 17"] == "yes" and v[20]["first bytes"] == "00 6c 00 01"
    for line in OFFER_LINES.splitlines():
        assert line in v[1]["SDP"].split("\n")
    for line in ANSWER_LINES.splitlines():
        assert line in v[11]["SDP"].split("\n")
    assert v[24]["CSeq"] == "2 INVITE" and v[1]["Call-ID"] == v[24]["Call-ID"]


def test_media_both_ways_with_statistics() -> None:
    ladder = flow_ladder()
    media = ladder.steps[32]
    assert [p.ok for p in media.parts] == [True, True]
    on_data = [m for m in ladder.media if m.dst.ip == CMS or m.src.ip == CMS]
    assert {(m.src.ip, m.dst.ip) for m in on_data} == {(CMS, EXPE_IN), (EXPE_IN, CMS)}
    for leg in on_data:
        assert leg.payload_types == [127] and leg.packets > 0 and leg.lost == 0
        assert leg.framing == "RFC 4571" and leg.transport == "TCP"


def test_the_17_19_subtlety_as_captured() -> None:
    """The Edge's connect comes before the ConnectionAttempt; its Binding request travels on
    that connection after the ConnectionBind here (Expressway-E buffered it)."""
    steps = {s.number: s for s in flow_ladder().steps}
    connect, check = steps[17].parts
    assert connect.ok and check.ok and connect.ts_ns is not None and check.ts_ns is not None
    attempt = steps[18].ts_ns
    assert attempt is not None and connect.ts_ns < attempt
    bind = steps[19].ts_ns
    assert bind is not None and check.ts_ns > bind
    assert steps[17].ts_ns == connect.ts_ns  # the step is dated by its connect


def test_inferred_columns_equal_the_names_file() -> None:
    inferred = build_ladder(flow())
    given = flow_ladder()
    for a, b in zip(inferred.names.columns, given.names.columns, strict=True):
        assert a.role == b.role
        assert set(b.addresses) - {"10.149.4.10"} <= set(a.addresses)
    assert inferred.verdict.passed
    assert "inferred" in inferred.names.source


def test_duplicates_across_interfaces_are_seen_once() -> None:
    ladder = flow_ladder()
    invites = [e for e in ladder.analysis.events if e.kind is Kind.SIP and e.sip is not None
               and e.sip.method == "INVITE" and e.src.ip == EDGE_OUT]
    assert len(invites) == 2  # the share INVITE and the re-INVITE, once each
    assert {e.iface for e in invites} == {"edge:outside"}  # read on the sender's side
    peer = next(c for c in ladder.analysis.connections if c.client.port == 53577)
    assert peer.seen_on == ["edge:outside", "expe:outside"] and peer.iface == "edge:outside"


def test_arrows_are_between_columns_and_in_time_order() -> None:
    ladder = flow_ladder()
    times = [r.ts_ns for r in ladder.rows]
    assert times == sorted(times)
    assert all(r.src_col != r.dst_col for r in ladder.rows)
    assert {r.step for r in ladder.rows if r.step is not None} == set(range(1, 34))
    first = next(r for r in ladder.rows if r.step == 9)
    assert "XOR-RELAYED-ADDRESS: 192.168.1.229:24000" in first.notes


@st.composite
def corrupted_flow(draw: st.DrawFn) -> Capture:
    """The seed-flow capture with bytes overwritten above the IP header and packets cut short,
    as a damaged customer capture would be."""
    cap = flow()
    for _ in range(draw(st.integers(1, 20))):
        i = draw(st.integers(0, len(cap.packets) - 1))
        data = bytearray(cap.packets[i].data)
        if len(data) > 54:
            for _ in range(draw(st.integers(1, 8))):
                data[draw(st.integers(34, len(data) - 1))] = draw(st.integers(0, 255))
        if draw(st.booleans()):
            data = data[:draw(st.integers(0, len(data)))]
        cap.packets[i] = dataclasses.replace(cap.packets[i], data=bytes(data))
    return cap


@pytest.mark.timeout(60)
@given(corrupted_flow())
@settings(max_examples=60, deadline=None)
def test_a_damaged_capture_still_gives_a_ladder(cap: Capture) -> None:
    """No exception, no hang (a STUN-looking stream its framer refuses once looped forever):
    the steps the damage hides are reported missing, partial or wrong, not crashed on."""
    ladder = build_ladder(cap, names=names())
    assert len(ladder.steps) == 33 and ladder.verdict.summary


def test_a_packet_the_senders_tap_missed_is_read_from_another_tap() -> None:
    """tcpdump on a loaded machine drops a packet now and then ("dropped by kernel"): the
    sender's copy of the share INVITE is cut out of the capture; the copy the next tap saw
    fills the hole, and the ladder still passes with the INVITE in its place."""
    cap = flow()
    segs = by_frame(cap)
    invite = next(e for e in flow_ladder().analysis.events if e.kind is Kind.SIP
                  and e.sip is not None and e.sip.method == "INVITE" and e.src.ip == EDGE_OUT)
    assert segs[invite.frame].iface == "edge:outside" and invite.sip is not None
    cut = renumber(cap, (p for p in cap.packets if p.number != invite.frame))
    ladder = build_ladder(cut, names=names())
    assert ladder.verdict.passed, (ladder.verdict.summary, ladder.verdict.reasons)
    again = [e for e in ladder.analysis.events if e.kind is Kind.SIP and e.sip is not None
             and e.sip.method == "INVITE" and e.src.ip == EDGE_OUT]
    assert len(again) == 2 and again[0].sip is not None
    assert again[0].sip.call_id == invite.sip.call_id
    assert by_frame(cut)[again[0].frame].iface != "edge:outside"  # from the other tap
