"""ICE with the seed's candidate sets through our TURN servers, in namespaces (flow.md §1-§3,
tests/icehelp.py): exactly the relay-to-relay pair works, every other pair fails for its real
reason, the Edge connects from 192.168.1.252:53577, and media flows both ways with statistics.
Plus the host path and the two other failure reasons (refused, timeout) on a plain link."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.aio.ice import IceFailed, IceGatherer, IceResult, IceSession
from lab.aio.media import MediaEndpoint
from lab.proto.ice import IceConfig, new_ufrag_pwd
from lab.proto.rtp import MediaStats
from lab.proto.sdp import Candidate, rfc5245_candidates
from tests.icehelp import (
    CMS,
    EDGE_OUT,
    EXPE_OUT,
    MediaFn,
    build_seed_net,
    edge_turn_config,
    expe_turn_config,
    run_pair,
    serve_turn,
)
from tests.nethelp import NetBench, ns_loops

DATA = Path(__file__).resolve().parent.parent / "data" / "ice"


def media(role: str, seconds: float) -> MediaFn:
    async def run(result: IceResult) -> MediaStats:
        endpoint = MediaEndpoint(result.stream, role=role, rate_bps=1_000_000,
                                 rtcp_interval=0.2)
        return await endpoint.run(seconds)
    return run


def test_seed_ice_and_media_through_our_turn(netbench: Callable[[], NetBench]) -> None:
    net = build_seed_net(netbench())
    with ns_loops(net.edge.ns, net.expe.ns, net.client.ns, net.cms.ns) as (edge, expe, sl, cl):
        serve_turn(edge, net.edge, edge_turn_config())
        serve_turn(expe, net.expe, expe_turn_config())
        skype, cms, sent, seen = run_pair(sl, cl, media_skype=media("sharer", 1.0),
                                          media_cms=media("viewer", 1.0))
    assert skype.result is not None, skype.failure
    assert cms.result is not None, cms.failure

    # the gathered candidates are the seed's offer (flow.md §4.1), computed, not pasted
    offer = (DATA / "seed_offer_candidates.txt").read_text().splitlines()
    assert [str(c) for c in skype.candidates] == offer
    assert [str(c) for c in cms.candidates] == [
        "1 1 TCP-PASS 2130706431 10.48.54.230 38547 typ host",
        "2 1 TCP-PASS 352321535 192.168.1.229 24000 typ relay raddr 10.48.54.230 rport 33347"]

    # exactly the relay-to-relay pair, on both sides
    pair = skype.result.pair
    assert (pair.local.typ, pair.local.port, pair.remote.address, pair.remote.port) == (
        "relay", 51577, EXPE_OUT, 24000)
    cpair = cms.result.pair
    assert (cpair.local.port, cpair.remote.typ, cpair.remote.port) == (24000, "relay", 51577)
    # RFC 6062 §5.2: the Edge connected from the relayed address that holds 53577
    assert cms.result.stream.remote == (EDGE_OUT, 53577)
    assert cms.result.stream.local == (CMS, 33348)  # the ConnectionBind data connection

    report = {r.id: r for r in skype.report}
    assert [r.state for r in report.values()] == [
        "failed", "pruned", "failed", "pruned", "failed", "succeeded"]
    for i in (1, 3):
        # Normally the NAT's ICMP net unreachable fails these within a millisecond. The kernel
        # may hold that ICMP back (route-error and global ICMP rate limits) and resend the SYN
        # a second later; the nominated pair then wins and RFC 8445 §8.1.2 cancels the rest.
        reason = report[i].reason
        assert reason is not None
        assert ((reason.startswith("no route:") and "ENETUNREACH" in reason)
                or reason == "cancelled: ICE completed on pair #6"), reason
    assert report[5].reason is not None
    assert report[5].reason.startswith("TURN CONNECT from 192.168.1.252:53577 to 10.48.54.230")
    assert "447" in report[5].reason

    # media both ways, with statistics
    assert isinstance(sent, MediaStats) and isinstance(seen, MediaStats)
    assert sent.sent_packets == seen.received_packets > 50
    assert sent.sent_bytes == seen.received_bytes
    assert seen.sent_packets == sent.received_packets > 5
    assert seen.lost == sent.lost == seen.gaps == 0
    assert sent.rtt_samples > 0 and seen.rtt_samples > 0 and sent.rtt_ms is not None


def _host_side(ip: str, port: int, *, passive: bool) -> Callable[[], Any]:
    async def gather() -> tuple[IceGatherer, list[Candidate]]:
        g = IceGatherer()
        if passive:
            await g.host_passive(ip, port)
        else:
            g.host_active(ip, port)
        return g, rfc5245_candidates(g.specs)
    return gather


def test_host_path_refused_and_timeout(netbench: Callable[[], NetBench]) -> None:
    bench = netbench()
    a, b = bench.node("a"), bench.node("b")
    bench.segment("ab", [(a, "eth0", "10.99.0.1/24"), (b, "eth0", "10.99.0.2/24")])
    b.exec("nft", "add", "table", "inet", "t")
    b.exec("nft", "add chain inet t input { type filter hook input priority 0 ; }")
    b.exec("nft", "add", "rule", "inet", "t", "input", "tcp", "dport", "39001", "drop")
    refused = Candidate.parse("8 1 TCP-PASS 2130706175 10.99.0.2 39000 typ host")
    dropped = Candidate.parse("9 1 TCP-PASS 2130705919 10.99.0.2 39001 typ host")
    cfg = IceConfig(connect_timeout=0.5, overall_timeout=5.0)

    ours, theirs = new_ufrag_pwd(), new_ufrag_pwd()

    async def caller(remote: list[Candidate]) -> tuple[Any, Any]:
        g, cands = await _host_side("10.99.0.1", 13450, passive=False)()
        async with IceSession(g, cands, controlling=True, ufrag=ours[0], pwd=ours[1],
                              config=cfg) as ice:
            await ice.set_remote(theirs[0], theirs[1], remote)
            try:
                res = await ice.completed()
            except IceFailed as exc:
                return None, exc.report
            return res.pair, res.report

    async def callee() -> tuple[IceSession, list[Candidate]]:
        g, cands = await _host_side("10.99.0.2", 38547, passive=True)()
        ice = IceSession(g, cands, controlling=False, ufrag=theirs[0], pwd=theirs[1], config=cfg)
        await ice.__aenter__()
        await ice.set_remote(ours[0], ours[1], [])
        return ice, cands

    with ns_loops(a.ns, b.ns) as (la, lb):
        # 1. only the refused and the silently dropped candidates: ICE fails, with both reasons
        pair, report = la.run(caller([refused, dropped]))
        assert pair is None
        reasons = {r.remote.split()[-1]: r.reason for r in report}
        assert reasons["10.99.0.2:39000"] is not None
        assert reasons["10.99.0.2:39000"].startswith("refused: from 10.99.0.1:13450")
        assert reasons["10.99.0.2:39001"] == "timeout: TCP connect not answered within 0.5 s"
        # 2. the callee's real host candidate: the host path works, triggered check and all
        ice, cands = lb.run(callee())
        try:
            pair, report = la.run(caller(cands))
            assert pair is not None and pair.remote.port == 38547
            remote_pair = lb.run(asyncio.wait_for(ice.completed(), 5)).pair
            assert remote_pair.remote.address == "10.99.0.1"
        finally:
            lb.run(ice.close())
