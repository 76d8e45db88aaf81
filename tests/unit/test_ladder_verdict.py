"""Failure verdicts from the real capture made faulty: the step where the ladder stopped, the
node that should have sent it, and why in words; and the causal order check (valid orderings
pass, broken ones fail)."""

from __future__ import annotations

from lab.ladder import Ladder, Status, build_ladder, decrypt
from lab.ladder.check import ORDER_TOLERANCE_NS
from lab.ladder.events import Event
from lab.ladder.packets import TCP_SYN, Segment
from tests.ladderhelp import (
    CMS,
    DATA,
    EDGE_OUT,
    EXPC,
    EXPE_IN,
    EXPE_OUT,
    conn_pred,
    cut_after,
    drop,
    flow,
    flow_ladder,
    move,
    names,
    same_message,
)


def _ladder(cap: object) -> Ladder:
    return build_ladder(cap, names=names())  # type: ignore[arg-type]


def _event(step: int, part: int = 0) -> Event:
    ev = flow_ladder().steps[step - 1].parts[part].event
    assert ev is not None
    return ev


def test_no_connection_bind_stops_at_19_on_the_meeting_server() -> None:
    check = _event(17, part=1)  # the Edge has connected and sent its check, then nothing
    cap = drop(cut_after(flow(), check.ts_ns), conn_pred((CMS, 33348), (EXPE_IN, 3478)))
    ladder = _ladder(cap)
    v = ladder.verdict
    assert not v.passed and v.stopped_at == 19 and v.node == "Meeting Server"
    assert v.summary.startswith("FAIL: 18 of 33 steps seen; the ladder stopped at step 19 "
                                "(ConnectionBind on a new TCP connection to 3478), expected "
                                "from Meeting Server")
    assert v.reasons == ["no ConnectionBind Request from Meeting Server to Expressway-E in the "
                         "capture"]
    assert v.missing == [19, 20, 21, 22, 23, *range(24, 34)]


def test_no_allocation_stops_at_6() -> None:
    invite = _event(5)
    ladder = _ladder(cut_after(flow(), invite.ts_ns + 100_000))
    assert ladder.verdict.stopped_at == 6 and ladder.verdict.node == "Meeting Server"
    assert ladder.steps[1].status is Status.SEEN and ladder.steps[3].status is Status.SEEN


def test_relay_connect_dropped_names_where_the_syn_was_seen() -> None:
    """As with the relay range opened outbound only: the Edge's SYN never answered."""
    connect = _event(17)
    peer = conn_pred((EDGE_OUT, 53577), (EXPE_OUT, 24000))
    def sent(s: Segment) -> bool:  # the Edge's SYN as it left; dropped after that
        return s.flags == TCP_SYN and s.iface == "edge:outside"

    cap = drop(cut_after(flow(), connect.ts_ns), lambda s: peer(s) and not sent(s))
    ladder = _ladder(cap)
    v = ladder.verdict
    assert v.stopped_at == 17 and v.node == "Skype for Business"
    assert ladder.steps[16].status is Status.MISSING
    assert ladder.steps[16].parts[0].note == "TCP connect: no answer"
    assert any("TCP connect 192.168.1.252:53577 -> 192.168.1.229:24000 never answered (1 SYN"
               in r and "seen only on edge:outside" in r for r in v.reasons)
    row = next(r for r in ladder.rows if r.step == 17)
    assert not row.ok and row.label == "TCP connect (no answer)"


def test_a_call_rejected_with_diagnostics_is_explained() -> None:
    """Without the 200 OK from CMS the ladder stops at 11; a missing 100 Trying is no stop."""
    ok = _event(11)
    trying = _event(2)
    cap = flow()
    tryings = same_message(cap, trying.frame)
    cap = drop(cap, lambda s: s.frame in tryings)
    cap = cut_after(cap, ok.ts_ns - 1)
    ladder = _ladder(cap)
    v = ladder.verdict
    assert v.stopped_at == 11 and v.node == "Meeting Server"
    assert ladder.steps[1].status is Status.MISSING and 2 in v.missing


def test_binding_request_before_connection_bind_is_valid_too() -> None:
    """The other valid order of the subtlety: the framed check leaves the Edge before CMS's
    ConnectionBind (after the ConnectionAttempt)."""
    check = _event(17, part=1)
    attempt = _event(18)
    cap = flow()
    ladder = _ladder(move(cap, same_message(cap, check.frame), attempt.ts_ns + 10_000))
    steps = {s.number: s for s in ladder.steps}
    moved = steps[17].parts[1].ts_ns
    bind = steps[19].ts_ns
    assert moved is not None and bind is not None and moved < bind
    assert ladder.verdict.passed, ladder.verdict.summary


def test_connection_attempt_before_the_edge_connects_is_out_of_order() -> None:
    connect = _event(17)
    attempt = _event(18)
    cap = flow()
    ladder = _ladder(move(cap, same_message(cap, attempt.frame), connect.ts_ns - 5_000_000))
    assert ladder.steps[17].status is Status.OUT_OF_ORDER
    assert ladder.steps[17].notes == ["seen before step 17 (Skype Edge connects to the relayed "
                                      "address and sends an ICE check), which must come first"]
    assert ladder.verdict.out_of_order == [18] and not ladder.verdict.passed


def test_reinvite_before_the_ice_check_succeeded_is_out_of_order() -> None:
    reinvite = _event(24)
    success = _event(21)
    cap = flow()
    ladder = _ladder(move(cap, same_message(cap, reinvite.frame), success.ts_ns - 3_000_000))
    assert ladder.steps[23].status is Status.OUT_OF_ORDER
    assert 24 in ladder.verdict.out_of_order


def test_clock_jitter_between_interfaces_is_tolerated() -> None:
    request, reply = _event(6), _event(7)
    cap = flow()
    just = move(cap, same_message(cap, reply.frame), request.ts_ns - ORDER_TOLERANCE_NS // 10)
    assert _ladder(just).verdict.passed
    late = move(cap, same_message(cap, reply.frame), request.ts_ns - 2 * ORDER_TOLERANCE_NS)
    assert _ladder(late).steps[6].status is Status.OUT_OF_ORDER


def test_expected_values_pass_and_wrong_ones_fail() -> None:
    good = {9: {"XOR-RELAYED-ADDRESS": "192.168.1.229:24000",
                "XOR-MAPPED-ADDRESS": "10.48.54.230:33347"},
            17: {"from": "192.168.1.252:53577", "first bytes": "00 6c 00 01"},
            11: {"SDP": "m=applicationsharing 24000 TCP/RTP/SAVP 127\na=setup:passive"}}
    assert build_ladder(flow(), names=names(), expect=good).verdict.passed
    bad = {9: {"XOR-RELAYED-ADDRESS": "192.168.1.229:24001"},
           11: {"SDP": "a=setup:passive\nm=applicationsharing 24000 TCP/RTP/SAVP 127"}}
    ladder = build_ladder(flow(), names=names(), expect=bad)
    assert ladder.verdict.wrong == [9, 11] and not ladder.verdict.passed
    assert ladder.steps[8].notes == ["XOR-RELAYED-ADDRESS is 192.168.1.229:24000, expected "
                                     "192.168.1.229:24001"]
    assert ladder.steps[8].status is Status.WRONG


def test_a_real_firewall_fault_relay_range_inbound_dropped() -> None:
    """A capture of the flow with Expressway-E dropping inbound TCP to its relay range (the
    "relay range opened outbound only" mistake of ports.md), made by real stacks."""
    ladder = build_ladder(DATA / "relay-inbound-dropped-tcp.pcapng")  # columns inferred
    v = ladder.verdict
    assert [s.number for s in ladder.steps if s.seen] == list(range(1, 17))
    assert v.stopped_at == 17 and v.node == "Skype for Business"
    [reason] = v.reasons
    assert reason.startswith("TCP connect 192.168.1.252:53577 -> 192.168.1.229:24000 never "
                             "answered (")
    assert reason.endswith("the SYN was seen only on edge:outside, expe:outside")
    assert ladder.steps[18].notes == ["not reached: the ladder stopped at step 17"]
    failed = [r for r in ladder.rows if not r.ok]
    assert failed and all(r.label == "TCP connect (no answer)" for r in failed)


def test_an_unreadable_invite_hop_answered_with_a_wrong_sdp_is_not_where_the_call_stopped(
        ) -> None:
    """CMS's TURN port dropped (no Allocate), and the Expressway-C <-> CMS hop unreadable (as an
    undecrypted TLS connection is): the 200 OK that comes back, without the relay candidate,
    proves the INVITE reached CMS, so the ladder stops at the Allocate (6), not at step 5."""
    def cms_side(s: Segment) -> bool:
        ends = {s.src, s.dst}
        return s.proto == 6 and (ends == {CMS, EXPC} or (ends == {CMS, EXPE_IN}
                                                          and 3478 in (s.sport, s.dport)))
    cap = drop(cut_after(flow(), _event(15).ts_ns), cms_side)  # no ICE, no media after it
    wrong_sdp = {12: {"SDP": "a=candidate:2 1 TCP-ACT 352321535 192.168.1.229 24000 typ relay"}}
    ladder = build_ladder(cap, names=names(), expect=wrong_sdp)
    v = ladder.verdict
    assert ladder.steps[4].status is Status.MISSING and 12 in v.wrong
    assert v.stopped_at == 6 and v.node == "Meeting Server"
    # a wrong 200 OK still proves nothing about the Allocate: without the rule's SIP limit
    # the ladder would pass over step 6 as well
    assert not ladder.steps[5].seen


def test_why_a_tls_connection_stayed_encrypted() -> None:
    hello = bytes.fromhex("16030100f8010000f40303") + bytes(range(32)) + b"\x20" + b"\0" * 40
    random = bytes(range(32)).hex().encode()
    assert decrypt.client_random(hello) == bytes(range(32))
    assert decrypt.opaque_reason(hello, b"") == "no TLS key log (give --keylog FILE)"
    assert decrypt.opaque_reason(hello, b"CLIENT_RANDOM " + b"ab" * 32 + b" 00\n") == (
        "the key log has no secrets for its ClientHello")
    assert decrypt.opaque_reason(hello, b"CLIENT_HANDSHAKE_TRAFFIC_SECRET " + random.upper()
                             + b" 00\n").startswith("the key log has its secrets")
    app_data = bytes.fromhex("1703030020") + b"\0" * 32  # the capture began mid-connection
    assert decrypt.client_random(app_data) is None
    assert decrypt.opaque_reason(app_data, b"x") == (
        "its handshake (ClientHello) is not in the capture")
