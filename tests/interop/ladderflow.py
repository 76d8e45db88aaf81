"""A miniature of the seed flow from real stacks in throwaway namespaces, captured on every
interface by :class:`lab.capture.LabCapture`: the Skype client's share INVITE over TLS through
our three proxies (Edge, Expressway-E, Expressway-C, with the traversal zone), CMS allocating on
coturn (playing Expressway-E's TURN server, relays from 24000) before it answers, the Skype
side's TURN on its Edge (our server, relays 53577/51577), ICE checks and RTP over the bridged
path, the re-INVITE, BYE. Until the node daemons exist this is the nearest thing to
``uclab run``; the ladder is checked against it by tests/interop/test_ladder_flow.py.

    python -m tests.interop.ladderflow tests/data/ladder/seed-flow-tcp.pcapng tcp   # as root
    python -m tests.interop.ladderflow /tmp/blocked.pcapng tls relay-inbound-dropped

remakes the small capture that the unit tests read (SIP over TCP there, so that they need no
tshark; the interop test runs it over TLS).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.aio.ice import IceResult
from lab.aio.media import MediaEndpoint
from lab.aio.sip_ua import Answer, Reject
from lab.capture import LabCapture
from lab.ladder import Names, make_names
from lab.proto.sdp import (
    Candidate,
    IceCredentials,
    Origin,
    SessionDescription,
    build_share_sdp,
    ice_credentials,
    share_media,
)
from lab.proto.sip.ua import Call
from tests import sipseed as seed
from tests.icehelp import (
    CLIENT,
    CMS,
    EDGE_IN,
    EDGE_OUT,
    EXPC,
    EXPE_IN,
    EXPE_OUT,
    NAT_OUT,
    Exchange,
    Side,
    build_seed_net,
    cms_side,
    edge_turn_config,
    serve_turn,
    skype_side,
)
from tests.nethelp import NetBench, Node, ns_loops, wait_until
from tests.netns.siplab import SeedPath, make_pki
from tests.turnhelp import coturn

MEDIA_SECONDS, MEDIA_BPS = 0.4, 100_000


def flow_names() -> Names:
    """The seed's columns for this network (what a names file would say)."""
    return make_names({"sfb": [EDGE_OUT, EDGE_IN], "expressway-e": [EXPE_OUT, EXPE_IN],
                       "expressway-c": [EXPC], "cms": [CMS]},
                      hosts={CLIENT: "sfb-client", NAT_OUT: "sfb-nat"}, source="test network")


def _sdp(side: Side, *, role: str, proto: str, setup: str | None) -> bytes:
    comp1 = [c for c in side.candidates if c.component == 1]
    default = next((c for c in comp1 if c.typ == "relay"), comp1[0])
    origin = Origin("-", "1", "1", default.address)
    sd = build_share_sdp(side.candidates, ice=IceCredentials(side.ufrag, side.pwd), role=role,
                         proto=proto, default=default, origin=origin, setup=setup)
    return sd.encode()


def _side(sdp: bytes) -> Side:
    sd = SessionDescription.parse(sdp)
    media = share_media(sd)
    cred = ice_credentials(media, sd)
    return Side(candidates=list(media.candidates), ufrag=cred.ufrag, pwd=cred.pwd)


class _Cms:
    """CMS's SIP answer callback: hands the offer to its ICE agent, answers once TURN is done."""

    def __init__(self, ex: Exchange) -> None:
        self.ex = ex
        self.answer: bytes | None = None

    async def on_invite(self, call: Call, offer: bytes) -> Answer | Reject:
        if self.answer is None:  # the share INVITE; a re-INVITE gets the same answer
            self.ex.offer.set_result(_side(offer))
            side = await asyncio.wrap_future(self.ex.answer)
            self.answer = _sdp(side, role="viewer", proto="TCP/RTP/SAVP", setup="passive")
        return Answer(self.answer)


async def _media(result: IceResult, role: str) -> Any:
    return await MediaEndpoint(result.stream, role=role, rate_bps=MEDIA_BPS,
                               rtcp_interval=0.2).run(MEDIA_SECONDS)


@dataclass
class FlowRun:
    pcap: Path
    skype: Side
    cms: Side
    keylog: Path


@contextlib.contextmanager
def _stacks(n: dict[str, Node], folder: Path, cms: _Cms, kind: str) -> Iterator[SeedPath]:
    p = make_pki(folder / "pki") if kind == "tls" else None
    path = SeedPath({k: n[k] for k in ("client", "edge", "expe", "expc", "cms")}, p, kind,
                    cms.on_invite)
    try:
        wait_until(lambda: "traversal" in path.expe.core.zone_flows, "the traversal zone",
                   within=20.0, step=0.01)
        yield path
    finally:
        errors = path.stop()
        if errors:
            raise RuntimeError(f"SIP stacks failed: {errors}")


def _call(path: SeedPath, sl: Any, cl: Any, cms: _Cms) -> tuple[Side, Side]:
    """The share: gather, INVITE, answer, ICE, re-INVITE with the selected pair, media, BYE."""
    ex_s = Exchange()
    skype, cms_s = Side(), Side()
    f_skype = sl.start(skype_side(ex_s, skype, lambda r: _media(r, "sharer")))
    f_cms = cl.start(cms_side(cms.ex, cms_s, lambda r: _media(r, "viewer")))
    offer = _sdp(ex_s.offer.result(20), role="sharer", proto="TCP/RTP/AVP", setup=None)
    ct = path.client_thread
    call, answer = ct.call(path.client.invite(seed.meeting_uri(), offer))
    ex_s.answer.set_result(_side(answer))
    wait_until(lambda: skype.result is not None or skype.failure is not None, "ICE", within=40,
               step=0.01)
    if skype.result is None:  # a fault: no share; hang up as the client would
        ct.call(path.client.bye(call))
        return skype, cms_s
    selected: Candidate = skype.result.pair.local
    chosen = Side([c for c in skype.candidates if c.foundation == selected.foundation],
                  skype.ufrag, skype.pwd)
    ct.call(path.client.reinvite(call, _sdp(chosen, role="sharer", proto="TCP/RTP/AVP",
                                            setup=None)))
    f_skype.result(30)
    f_cms.result(30)
    ct.call(path.client.bye(call))
    return skype, cms_s


#: Faults a run can be given (nft rules in one namespace), as firewall owners make them.
FAULTS = {
    # the relay range opened outbound only: the Edge's connection to 24000 is dropped
    "relay-inbound-dropped": ("expe", "table inet fault {\n chain input {\n"
                              "  type filter hook input priority 0;\n"
                              "  tcp dport 24000-24099 drop\n }\n}\n"),
}


def run_flow(bench: NetBench, folder: Path, kind: str = "tls", fault: str | None = None
             ) -> FlowRun:
    """Build the network, capture every interface, run the share, merge the capture."""
    # client - nat (NAT, 17676 -> 65417) - edge - expe - [bridge: expe, expc, cms]
    n = build_seed_net(bench, with_expc=True).nodes()
    if fault is not None:
        node, rules = FAULTS[fault]
        n[node].nft(rules)
    namespaces = {name: node.ns for name, node in n.items()}
    namespaces["fw-inside"] = next(ns for ns in bench.namespaces if ns.endswith("-br-in"))
    cap = LabCapture(folder / "parts", namespaces)
    cms = _Cms(Exchange())
    cap.start()
    try:
        with ns_loops(n["edge"].ns, n["client"].ns, n["cms"].ns) as (edge, sl, cl), \
                coturn(n["expe"], folder / "coturn.log", listen=EXPE_IN, relay=EXPE_OUT,
                       port=3478, min_port=24000, max_port=24000), \
                _stacks(n, folder, cms, kind) as path:
            serve_turn(edge, n["edge"], edge_turn_config())
            skype, cms_side_ = _call(path, sl, cl, cms)
    finally:
        cap.stop()
    keylog = folder / "pki" / "keylog.txt"
    pcap = folder / "seed-flow.pcapng"
    cap.merge(pcap, keylog=keylog)
    return FlowRun(pcap, skype, cms_side_, keylog)


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path("seed-flow.pcapng")
    kind = argv[2] if len(argv) > 2 else "tls"
    fault = argv[3] if len(argv) > 3 else None
    bench = NetBench()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run = run_flow(bench, Path(tmp), kind, fault)
            out.write_bytes(run.pcap.read_bytes())
    finally:
        bench.close()
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
