"""The ICE agent against a misbehaving peer: a check for another agent's ufrag is refused (401)
and creates nothing; a response whose transaction ID matches no check sent is ignored, even
with the right password."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lab.proto.ice import Connect, IceAgent, PairState, SendStun, success_response
from lab.proto.ice.checks import binding_request
from lab.proto.ice.pairs import pair_priority
from lab.proto.stun import Message, MessageClass, Method, new_transaction_id, parse
from tests.unit.test_ice_agent import seed_agents, start
from tests.unit.test_ice_pairs import CMS, SKYPE


def check_from_skype(cms: IceAgent, *, to_ufrag: str) -> bytes:
    return binding_request(local_ufrag="SkyP", remote_ufrag=to_ufrag, remote_pwd=cms.local_pwd,
                           local=SKYPE[0], controlling=True, tie_breaker=7, use_candidate=True,
                           ms_ice2=False, transaction_id=new_transaction_id())


def sends(agent: IceAgent) -> list[SendStun]:
    return [a for a in agent.actions() if isinstance(a, SendStun)]


def test_a_check_for_another_ufrag_is_refused_with_401() -> None:
    skype, cms = seed_agents()
    start(skype, cms, 0.0)
    passive = CMS[0]  # TCP-PASS host
    pairs_before = len(cms.pairs)
    conn = cms.incoming(passive, (SKYPE[0].address, 50000), 0.0)
    cms.frame_received(conn, check_from_skype(cms, to_ufrag="Nope"), 0.0)
    (answer,) = sends(cms)
    msg = parse(answer.data)
    assert msg.cls is MessageClass.ERROR and msg.error is not None and msg.error.code == 401
    assert len(cms.pairs) == pairs_before and not any(p.inbound_ok for p in cms.pairs)
    # the same check for our ufrag is answered with a success (the refusal is the ufrag's)
    cms.frame_received(conn, check_from_skype(cms, to_ufrag=cms.local_ufrag), 0.1)
    (answer,) = sends(cms)
    assert parse(answer.data).cls is MessageClass.SUCCESS


def test_a_response_to_no_check_of_ours_is_ignored() -> None:
    skype, cms = seed_agents()
    start(skype, cms, 0.0)
    skype.handle_timer(0.0)
    connect = next(a for a in skype.actions() if isinstance(a, Connect))
    skype.connected(connect.conn, 0.1)
    (request,) = sends(skype)
    sent = parse(request.data)
    stranger = Message(Method.BINDING, MessageClass.REQUEST, new_transaction_id())
    forged = success_response(stranger, ("192.168.1.1", 1), local_pwd=cms.local_pwd,
                              ms_ice2=False)
    skype.frame_received(connect.conn, forged, 0.2)
    before = connect.pair.state
    assert before is PairState.IN_PROGRESS
    genuine = success_response(sent, ("192.168.1.1", 1), local_pwd=cms.local_pwd, ms_ice2=False)
    skype.frame_received(connect.conn, genuine, 0.3)
    after: PairState = connect.pair.state
    assert after is PairState.SUCCEEDED


@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1))
def test_pair_priority_is_rfc_5245_for_any_two_priorities(g: int, d: int) -> None:
    """RFC 5245 §5.7.2 written out as its text says it, against the implementation; and the
    two agents (roles swapped) agree on which of two pairs comes first."""
    expected = 2**32 * min(g, d) + 2 * max(g, d) + (1 if g > d else 0)
    assert pair_priority(g, d) == expected
    assert (pair_priority(g, d) == pair_priority(d, g)) == (g == d)
    assert pair_priority(g, d) < 2**64
