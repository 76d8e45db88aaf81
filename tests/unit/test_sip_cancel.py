"""CANCEL (RFC 3261 §9, §16.10) through the seed's three proxies, cores joined by the fake link:
the caller gives up a share before CMS answered; every proxy answers the CANCEL and cancels its
own branch with the INVITE's branch on the INVITE's connection; CMS answers 487; each hop ACKs
the 487 itself; every transaction ends."""

from __future__ import annotations

from itertools import pairwise

import pytest

from lab.proto.sip.core import Flow, cancel_for, response_to
from lab.proto.sip.errors import ProtocolError
from lab.proto.sip.message import Request, Response
from lab.proto.sip.ua import Ended, IncomingCall, Rejected
from tests import sipseed as seed
from tests.unit.sipfake import Hop, seed_network

CHAIN = ["sfb-client", "sfb-edge", "expressway-e", "expressway-c", "cms"]
HOPS = list(pairwise(CHAIN))


def _lines(hops: list[Hop]) -> list[str]:
    return [h.line() for h in hops]


def _branch(hop: Hop) -> str | None:
    return hop.message.via[0].branch


def test_cancel_before_the_answer_ends_in_487_on_every_hop() -> None:
    net, client, edge, expe, expc, cms = seed_network()
    call = client.invite(seed.meeting_uri(), b"v=0 offer", 0.0)
    net.run()
    (incoming,) = cms.events()
    assert isinstance(incoming, IncomingCall)
    mark = len(net.log)
    client.cancel(call, 0.5)
    net.run(0.5)
    hops = net.log[mark:]
    lines = _lines(hops)
    for a, b in HOPS:
        assert lines.index(f"{a} -> {b}: CANCEL") < lines.index(f"{b} -> {a}: 200 (CANCEL)")
        assert lines.index(f"{b} -> {a}: 487 (INVITE)") < lines.index(f"{a} -> {b}: ACK")
    assert len(lines) == 4 * len(HOPS)  # CANCEL, its 200, 487, ACK on each hop: nothing else
    invites = {(h.src, h.dst): h for h in net.log[:mark]
               if isinstance(h.message, Request) and h.message.method == "INVITE"}
    for h in hops:
        if isinstance(h.message, Request):
            assert _branch(h) == _branch(invites[(h.src, h.dst)])  # §9.1: the INVITE's branch
            assert not h.new_connection  # the INVITE's connection
            assert h.message.cseq.seq == invites[(h.src, h.dst)].message.cseq.seq
    (rejected,) = client.events()
    assert isinstance(rejected, Rejected) and rejected.status == 487
    (ended,) = cms.events()
    assert isinstance(ended, Ended) and ended.by_remote and incoming.call.state == "ended"
    with pytest.raises(ProtocolError):
        cms.answer(incoming.call, b"v=0 too late", 0.6)  # the application answered too late
    for core in (client, edge, expe, expc, cms):
        core.handle_timer(0.5)
        assert not core.clients and not core.servers, core.name


def test_cancel_before_any_provisional_waits_for_the_100() -> None:
    net, client, *_, cms = seed_network()
    call = client.invite(seed.meeting_uri(), b"v=0 offer", 0.0)
    client.cancel(call, 0.0)  # §9.1: not sent before a provisional response
    assert [s.message.method for s in client.outbox if isinstance(s.message, Request)] == [
        "INVITE"]
    net.run()
    lines = _lines(net.log)
    assert lines.index("sfb-edge -> sfb-client: 100 (INVITE)") < lines.index(
        "sfb-client -> sfb-edge: CANCEL")
    assert lines[-2:] == ["sfb-edge -> sfb-client: 487 (INVITE)", "sfb-client -> sfb-edge: ACK"]
    assert lines.count("expressway-c -> cms: INVITE") == lines.count("cms -> expressway-c: 487 "
                                                                     "(INVITE)") == 1
    assert isinstance(client.events()[-1], Rejected)
    events = cms.events()
    assert isinstance(events[0], IncomingCall) and isinstance(events[-1], Ended)


def test_cancel_after_the_answer_changes_nothing() -> None:
    net, client, *_, cms = seed_network()
    call = client.invite(seed.meeting_uri(), b"v=0 offer", 0.0)
    net.run()
    (incoming,) = cms.events()
    cms.answer(incoming.call, b"v=0 answer", 0.1)
    net.run(0.1)
    mark = len(net.log)
    client.cancel(call, 0.2)  # the 200 won the race: the client has nothing left to cancel
    net.run(0.2)
    assert net.log[mark:] == [] and call.state == "confirmed"


def test_cancel_matching_no_invite_is_481_and_a_late_one_200() -> None:
    _net, client, edge, *_ = seed_network()
    client.invite(seed.meeting_uri(), b"v=0", 0.0)
    invite = next(s.message for s in client.actions() if isinstance(s.message, Request))
    flow = Flow(99, "tls", "internal")
    edge.receive(cancel_for(invite), flow, 0.0)  # no INVITE with that branch at the Edge
    (answer,) = [s.message for s in edge.actions()]
    assert isinstance(answer, Response) and (answer.status, answer.cseq.method) == (481, "CANCEL")
    edge.handle_timer(0.0)  # timer J (0 on a stream) ends that CANCEL's transaction
    edge.receive(invite, flow, 0.0)
    server, _ = edge.servers[(invite.via[0].branch or "", "INVITE")]
    edge.respond(server, response_to(invite, 486, to_tag="t"), 0.1)  # final response sent
    edge.actions()
    edge.receive(cancel_for(invite), flow, 0.2)
    sent = edge.actions()
    assert [(s.message.status, s.message.cseq.method) for s in sent  # type: ignore[union-attr]
            ] == [(200, "CANCEL")]  # answered, nothing forwarded
