"""The seed's call through three proxies, cores joined by a fake link (sipfake.FakeNet):
INVITE with 100 Trying on each hop and Record-Route, 200 OK and ACK end to end, the
re-INVITE from the Skype side along the route set, BYE from CMS's side; and the refusals."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from lab.proto.sip.message import Header, Request, Response
from lab.proto.sip.ua import Acked, Answered, Ended, IncomingCall, ReInvited, Rejected
from tests import sipseed as seed
from tests.unit.sipfake import seed_network

CHAIN = ["sfb-client", "sfb-edge", "expressway-e", "expressway-c", "cms"]


def _ladder(hops: list[object]) -> list[str]:
    return [h.line() for h in hops]  # type: ignore[attr-defined]


def _call() -> tuple[Any, ...]:
    net, client, edge, expe, expc, cms = seed_network()
    call = client.invite(seed.meeting_uri(), b"v=0 offer", 0.0)
    net.run()
    (incoming,) = cms.events()
    assert isinstance(incoming, IncomingCall) and incoming.offer == b"v=0 offer"
    cms.answer(incoming.call, b"v=0 answer", 0.1)
    net.run(0.1)
    return net, client, edge, expe, expc, cms, call, incoming.call


def test_three_hop_invite_ladder() -> None:
    net, client, _, _, _, cms, call, cms_call = _call()
    ladder = _ladder(net.log)
    fwd = [f"{a} -> {b}: INVITE" for a, b in pairwise(CHAIN)]
    trying = [f"{b} -> {a}: 100 (INVITE)" for a, b in pairwise(CHAIN)]
    ok = [f"{b} -> {a}: 200 (INVITE)" for a, b in reversed(list(pairwise(CHAIN)))]
    ack = [f"{a} -> {b}: ACK" for a, b in pairwise(CHAIN)]
    for i in range(4):
        assert ladder.index(fwd[i]) < ladder.index(trying[i])
    assert ladder[-8:] == ok + ack
    events = client.events()
    assert isinstance(events[0], Answered) and events[0].answer == b"v=0 answer"
    assert isinstance(cms.events()[0], Acked)
    invite_at_cms = next(h.message for h in net.log if h.dst == "cms"
                         and isinstance(h.message, Request) and h.message.method == "INVITE")
    assert [str(r.uri) for r in invite_at_cms.record_route] == [
        "sip:10.48.54.227:5061;transport=tls;lr", "sip:10.48.54.229:7001;transport=tls;lr",
        "sip:192.168.1.229:5061;transport=tls;lr", "sip:192.168.1.252:5061;transport=tls;lr",
        "sip:10.149.4.10:5061;transport=tls;lr"]
    assert invite_at_cms.max_forwards == 67 and len(invite_at_cms.via) == 4
    assert call.dialog is not None and cms_call.dialog is not None
    assert [str(u) for u in call.dialog.route_set] == [
        str(r.uri) for r in reversed(invite_at_cms.record_route)]


def test_reinvite_follows_the_route_set_and_bye_opens_new_connections() -> None:
    net, client, _, _, _, cms, call, cms_call = _call()
    assert isinstance(cms.events()[0], Acked) and client.events()
    mark = len(net.log)
    client.reinvite(call, b"v=0 offer2", 1.0)
    net.run(1.0)
    (re,) = cms.events()
    assert isinstance(re, ReInvited) and re.offer == b"v=0 offer2"
    cms.answer(cms_call, b"v=0 answer2", 1.1)
    net.run(1.1)
    hops = net.log[mark:]
    reinv = [h for h in hops if isinstance(h.message, Request) and h.message.method == "INVITE"]
    assert [(h.src, h.dst) for h in reinv] == list(pairwise(CHAIN))
    assert not any(h.new_connection for h in reinv)  # every hop reuses a connection
    assert reinv[0].message.uri == call.dialog.remote_target
    answered = client.events()
    assert isinstance(answered[-1], Answered) and answered[-1].reinvite
    mark = len(net.log)
    cms.bye(cms_call, 2.0)
    net.run(2.0)
    byes = [h for h in net.log[mark:] if isinstance(h.message, Request)]
    assert [(h.src, h.dst) for h in byes] == list(pairwise(CHAIN[::-1]))
    # Expressway-E opens a new connection to the Edge; nothing connects into the inside
    assert [h.new_connection for h in byes] == [False, False, True, False]
    assert isinstance(client.events()[-1], Ended)
    assert isinstance(cms.events()[-1], Ended)
    opened = [h for h in net.log if h.new_connection]
    assert not any(h.dst in ("expressway-c", "cms") and h.src == "expressway-e" for h in opened)


def test_reject_from_the_callback_reaches_the_caller() -> None:
    net, client, _, _, _, cms, = seed_network()[:6]
    client.invite(seed.meeting_uri(), b"v=0", 0.0)
    net.run()
    (incoming,) = cms.events()
    assert isinstance(incoming, IncomingCall)
    diag = ("ms-diagnostics-public",
            '21002;reason="Attendees cannot share in this conference"')
    cms.reject(incoming.call, 403, "Forbidden", 0.1, (Header(*diag),))
    net.run(0.1)
    (rej,) = client.events()
    assert isinstance(rej, Rejected) and rej.status == 403
    assert rej.response is not None and rej.response.get("ms-diagnostics-public") == diag[1]
    acks = [h for h in net.log if isinstance(h.message, Request) and h.message.method == "ACK"]
    assert len(acks) == 4  # each hop ACKs the 403 itself (hop by hop, §17.1.1.3)


def test_loop_and_max_forwards_refusals() -> None:
    net, client, edge, *_ = seed_network()
    call = client.invite(seed.meeting_uri(), b"v=0", 0.0)
    req = client.clients[next(iter(client.clients))][0].request
    looped = req.prepend("Via", "SIP/2.0/TLS 192.168.1.252:5061;branch=z9hG4bKloop")
    zero = req.with_header("Max-Forwards", "0").with_header("Call-ID", "mf0")
    for msg in (looped, zero):
        edge.receive(msg, net.flows[1] if 1 in net.flows else next(iter(net.flows.values())),
                     0.0)
    statuses = [s.message.status for s in edge.actions() if isinstance(s.message, Response)]
    assert statuses == [100, 482, 100, 483]
    assert call.state == "new"
