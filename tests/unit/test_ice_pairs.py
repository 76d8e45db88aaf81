"""Pairing, pair priorities, pruning, ordering and initial states with the seed's candidates
(flow.md §4, tests/data/ice/*.txt)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from lab.proto.ice import PairState, can_pair, candidate_base, form_check_list, pair_priority
from lab.proto.ice.checks import check_priority, foundation_id
from lab.proto.sdp import Candidate

DATA = Path(__file__).resolve().parent.parent / "data" / "ice"


def load(name: str) -> list[Candidate]:
    lines = (DATA / name).read_text().splitlines()
    return [Candidate.parse(line) for line in lines if line.strip()]


SKYPE = load("seed_offer_candidates.txt")
CMS = load("seed_answer_candidates.txt")


def test_pair_priority_rfc5245_formula() -> None:
    # RFC 5245 §5.7.2 with G = controlling, D = controlled
    assert pair_priority(10, 20) == (1 << 32) * 10 + 2 * 20 + 0
    assert pair_priority(20, 10) == (1 << 32) * 10 + 2 * 20 + 1
    assert pair_priority(7, 7) == (1 << 32) * 7 + 14


def test_can_pair_active_with_passive_only() -> None:
    h_pass, h_act = SKYPE[0], SKYPE[2]
    cms_host = CMS[0]
    assert can_pair(h_act, cms_host)
    assert not can_pair(h_pass, cms_host)  # passive with passive
    assert not can_pair(SKYPE[3], cms_host)  # component 2 with component 1
    rfc6544 = Candidate.parse("1 1 TCP 1 10.0.0.1 9 typ host tcptype active")
    assert can_pair(rfc6544, cms_host)
    udp = Candidate.parse("1 1 UDP 1 10.0.0.1 5000 typ host")
    assert not can_pair(udp, cms_host)
    v6 = Candidate.parse("1 1 TCP-PASS 1 2001:db8::1 5000 typ host")
    assert not can_pair(h_act, v6)


def test_base_of_srflx_is_its_host_address() -> None:
    srflx = SKYPE[8]
    assert candidate_base(srflx) == ("192.168.251.128", 17676)
    assert candidate_base(SKYPE[6]) == ("192.168.1.252", 51577)


def test_skype_check_list_order_and_pruning() -> None:
    pairs = form_check_list(SKYPE, CMS, controlling=True)
    names = [(p.local.typ, p.local.port, p.remote.port, p.pruned is None) for p in pairs]
    assert names == [
        ("host", 13450, 38547, True),
        ("srflx", 65417, 38547, False),
        ("host", 13450, 24000, True),
        ("srflx", 65417, 24000, False),
        ("relay", 51577, 38547, True),
        ("relay", 51577, 24000, True),  # the only working one is checked last
    ]
    assert [p.id for p in pairs] == [1, 2, 3, 4, 5, 6]
    assert all(p.priority > q.priority for p, q in itertools.pairwise(pairs))
    assert pairs[1].pruned is not None and "redundant with pair #1" in pairs[1].pruned
    assert pairs[0].priority == pair_priority(2121006591, 2130706431)
    assert pairs[5].priority == pair_priority(174848511, 352321535)
    live = [p for p in pairs if p.pruned is None]
    assert all(p.state is PairState.WAITING for p in live)  # one component: every foundation


def test_both_agents_compute_the_same_pair_priority() -> None:
    skype = {(p.local.port, p.remote.port): p.priority
             for p in form_check_list(SKYPE, CMS, controlling=True)}
    cms = {(p.remote.port, p.local.port): p.priority
           for p in form_check_list(CMS, SKYPE, controlling=False)}
    assert skype == cms


def test_cms_only_has_passive_pairs_all_pruned() -> None:
    pairs = form_check_list(CMS, SKYPE, controlling=False)
    assert len(pairs) == 6  # 2 passive x 3 remote active (component 1)
    assert all(p.pruned is not None and "passive" in p.pruned for p in pairs)


def test_initial_states_freeze_second_component() -> None:
    remote = [Candidate.parse("9 1 TCP-PASS 100 10.0.0.9 1000 typ host"),
              Candidate.parse("9 2 TCP-PASS 99 10.0.0.9 1000 typ host")]
    pairs = form_check_list(SKYPE, remote, controlling=True)
    live = [p for p in pairs if p.pruned is None]
    by_comp = {(p.local.foundation, p.local.component): p.state for p in live}
    assert by_comp[("2", 1)] is PairState.WAITING
    assert by_comp[("2", 2)] is PairState.FROZEN


def test_check_priority_uses_prflx_type_preference() -> None:
    relay_act = SKYPE[6]
    prio = check_priority(relay_act)
    assert prio >> 24 == 110 and prio & 0xFFFFFF == relay_act.priority & 0xFFFFFF


@pytest.mark.parametrize(("foundation", "value"), [
    ("4", b"4\x00\x00\x00"), ("abcd", b"abcd"), ("abcde", b"abcde\x00\x00\x00")])
def test_candidate_identifier_value(foundation: str, value: bytes) -> None:
    assert foundation_id(foundation) == value
