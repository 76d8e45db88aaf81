"""The bridged path on the wire, read by tshark (an independent dissector): the Edge connects
from 192.168.1.252:53577 to Expressway-E's relayed address, the first RFC 4571 payload begins
``00 6c 00 01``, one Binding request and one success go each way (flow.md §3 steps 17-23), then
RTP PT 127 and RTCP; nothing malformed. Expressway-E's TURN server is ours, then coturn.

tshark needs two settings for ICE-TCP (docs/ice-media.md): ``-d tcp.port==PORT,rtp`` (RTP over
TCP, RFC 4571 framing) and ``-o rtp.version0_type:STUN packets`` (a framed payload whose first
two bits are 0 is STUN, RFC 7983).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.aio.ice import IceResult
from lab.aio.media import MediaEndpoint
from lab.proto.rtp import MediaStats
from tests.conftest import require_tool
from tests.icehelp import (
    EDGE_OUT,
    EXPE_OUT,
    SeedNet,
    build_seed_net,
    coturn_expe,
    edge_turn_config,
    expe_turn_config,
    run_pair,
    serve_turn,
)
from tests.nethelp import NetBench, NsLoop, ns_loops, tcpdump

BINDING_REQUEST, BINDING_SUCCESS = "0x0001", "0x0101"


def tshark(pcap: Path, port: int, *args: str) -> list[list[str]]:
    argv = ["tshark", "-r", str(pcap), "-d", f"tcp.port=={port},rtp",
            "-o", "rtp.version0_type:STUN packets", *args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def fields(pcap: Path, port: int, flt: str, *names: str) -> list[list[str]]:
    args = ["-Y", flt, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
    for name in names:
        args += ["-e", name]
    return tshark(pcap, port, *args)


async def _media(result: IceResult, role: str) -> MediaStats:
    return await MediaEndpoint(result.stream, role=role, rate_bps=300_000,
                               rtcp_interval=0.2).run(0.6)


@contextlib.contextmanager
def expe_server(kind: str, net: SeedNet, loop: NsLoop, logdir: Path) -> Iterator[None]:
    if kind == "coturn":
        require_tool("turnserver")
        with coturn_expe(net, logdir):
            yield
    else:
        serve_turn(loop, net.expe, expe_turn_config())
        yield


@pytest.mark.parametrize("expe_kind", ["ours", "coturn"])
def test_bridged_path_capture(expe_kind: str, netbench: Callable[[], NetBench],
                              tmp_path: Path) -> None:
    require_tool("tshark")
    require_tool("tcpdump")
    net = build_seed_net(netbench())
    pcap = tmp_path / "expe-outside.pcap"
    with ns_loops(net.edge.ns, net.expe.ns, net.client.ns, net.cms.ns) as (edge, expe, sl, cl), \
            expe_server(expe_kind, net, expe, tmp_path):
        serve_turn(edge, net.edge, edge_turn_config())
        with tcpdump(net.expe, "outside", pcap, "tcp", lifetime_s=60, settle=0.0):
            skype, cms, sent, seen = run_pair(
                sl, cl, media_skype=lambda r: _media(r, "sharer"),
                media_cms=lambda r: _media(r, "viewer"))
    assert skype.result is not None and cms.result is not None, (skype.failure, cms.failure)
    assert skype.result.pair.local.port == 51577 and skype.result.pair.remote.typ == "relay"
    expected = [("failed", "no route: "), ("pruned", "redundant with pair #1"),
                ("failed", "no route: "), ("pruned", "redundant with pair #3"),
                ("failed", "TURN CONNECT from 192.168.1.252:53577"), ("succeeded", "")]
    assert len(skype.report) == len(expected)
    for r, (state, reason) in zip(skype.report, expected, strict=True):
        assert r.state == state and (r.reason or "").startswith(reason), r
    relay = next(c for c in cms.candidates if c.typ == "relay")
    assert relay.address == EXPE_OUT
    port = relay.port
    if expe_kind == "ours":
        assert port == 24000

    # the Edge opens the bridged connection from its relayed address 53577 (flow.md §3 step 17)
    syn = fields(pcap, port, "tcp.flags.syn==1 && tcp.flags.ack==0", "ip.src", "tcp.srcport",
                 "ip.dst", "tcp.dstport")
    assert syn == [[EDGE_OUT, "53577", EXPE_OUT, str(port)]]

    # the first payload on it: RFC 4571 length 0x006c = 108, then STUN type 0x0001
    first = fields(pcap, port, "tcp.len>0", "tcp.payload")[0][0]
    assert first.startswith("006c0001"), first[:16]

    # one Binding request and one success each way, in the tech note's order (steps 17-23)
    stun: list[tuple[str, str]] = []
    for src, types in fields(pcap, port, "stun", "ip.src", "stun.type"):
        stun += [(src, t) for t in types.split(",")]
    assert stun == [(EDGE_OUT, BINDING_REQUEST), (EXPE_OUT, BINDING_SUCCESS),
                    (EXPE_OUT, BINDING_REQUEST), (EDGE_OUT, BINDING_SUCCESS)]
    lengths = fields(pcap, port, "stun.type==0x0001 && ip.src==" + EDGE_OUT, "stun.length")
    assert lengths[0][0].split(",")[0] == "88"  # 20 + 88 = 108 bytes

    # then the media: RTP payload type 127 both ways, RTCP sender reports
    pts = [pt for _src, types in fields(pcap, port, "rtp", "ip.src", "rtp.p_type")
           for pt in types.split(",") if pt]
    assert pts and set(pts) == {"127"}
    rtp_sources = {src for src, _ in fields(pcap, port, "rtp", "ip.src", "rtp.p_type")}
    assert rtp_sources == {EDGE_OUT, EXPE_OUT}
    assert fields(pcap, port, "rtcp.pt==200", "ip.src")
    assert isinstance(sent, MediaStats) and isinstance(seen, MediaStats)
    assert seen.received_packets == sent.sent_packets > 0

    # and nothing tshark finds malformed or in error
    assert fields(pcap, port, "_ws.malformed || _ws.expert.severity==error", "frame.number") == []
