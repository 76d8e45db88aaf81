"""tshark as the referee of our SIP: the seed's call (INVITE, re-INVITE, BYE) through our three
proxies, captured by tcpdump inside the namespaces, over TLS (decrypted with the NSS key log our
TLS contexts write) and over TCP. Wireshark's dissectors, not ours, must find every message as
SIP (and its SDP), nothing malformed, no expert error, no TCP payload left undecoded, and the
expected request/response sequence on each of the four hops."""

from __future__ import annotations

import asyncio
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.aio.sip_ua import Answer, Reject
from lab.capture import LabCapture
from lab.proto.sdp import IceCredentials, Origin, build_share_answer, build_share_offer
from lab.proto.sip.ua import Call
from tests import sipseed as seed
from tests.conftest import require_tool
from tests.nethelp import NetBench, wait_until
from tests.netns.siplab import SeedPath, build_namespaces, make_pki
from tests.tsharkargs import sip_over_tls
from tests.unit.test_sdp_flow import CLIENT_SPECS, CMS_SPECS

OFFER = str(build_share_offer(CLIENT_SPECS, ice=IceCredentials("sfbU", "sfbpasswordsfbpassword1"),
                              origin=Origin("-", "1", "0", seed.CLIENT))).encode()
ANSWER = str(build_share_answer(CMS_SPECS, ice=IceCredentials("cmsU", "cmspasswordcmspassword1"),
                                origin=Origin("-", "2", "0", seed.CMS))).encode()
# each captured interface sees one hop exactly once: (interface, upstream, downstream)
HOPS = [("client:eth0", seed.CLIENT, seed.EDGE_INT), ("expe:eth0", seed.EDGE_EXT, seed.EXPE_EXT),
        ("expe:eth1", seed.EXPE_INT, seed.EXPC), ("cms:eth0", seed.EXPC, seed.CMS)]
Msg = tuple[str, str, str]  # (from address, to address, "INVITE" or "200 INVITE")


def expected(up: str, down: str) -> list[Msg]:
    invite = [(up, down, "INVITE"), (down, up, "100 INVITE"), (down, up, "200 INVITE"),
              (up, down, "ACK")]
    return invite + invite + [(down, up, "BYE"), (up, down, "200 BYE")]


def tshark(pcap: Path, kind: str, keylog: Path | None, *args: str) -> str:
    argv = ["tshark", "-n", "-r", str(pcap)]
    if kind == "tls":
        argv += sip_over_tls()  # 5061 is SIP over TLS already; 7001 and any client port
        if keylog is not None:
            argv += ["-o", f"tls.keylog_file:{keylog}"]
    else:
        argv += ["-d", f"tcp.port=={seed.TRAVERSAL_PORT},sip"]
    proc = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def sip_messages(pdml: str) -> dict[str, list[Msg]]:
    """Every SIP message tshark decoded, per capture interface, in order (several per frame
    when TCP carried them together)."""
    out: dict[str, list[Msg]] = {}
    for packet in ET.fromstring(pdml).iter("packet"):
        fields = {f.get("name"): f.get("show") for f in packet.iter("field")}
        iface, src, dst = (fields.get(k) or "" for k in ("frame.interface_name", "ip.src",
                                                        "ip.dst"))
        for proto in packet.iter("proto"):
            if proto.get("name") != "sip":
                continue
            f = {x.get("name"): x.get("show") for x in proto.iter("field")}
            what = f.get("sip.Method") or f"{f.get('sip.Status-Code')} {f.get('sip.CSeq.method')}"
            out.setdefault(iface, []).append((src, dst, what))
    return out


def _call(path: SeedPath) -> None:
    wait_until(lambda: "traversal" in path.expe.core.zone_flows, "the traversal zone comes up",
               within=5.0, step=0.05)
    client, ct, cms, cmst = path.client, path.client_thread, path.cms, path.threads[3]
    call, answer = ct.call(client.invite(seed.meeting_uri(), OFFER))
    assert answer == ANSWER
    cms_call = cmst.call(cms.incoming.get())
    cmst.call(cms.wait_acked(cms_call))
    assert ct.call(client.reinvite(call, OFFER)) == ANSWER
    cmst.call(cms.wait_acked(cms_call))  # the ACK is on its way through four hops
    cmst.call(cms.bye(cms_call))
    ct.call(client.wait_ended(call))


@pytest.mark.parametrize("kind", ["tls", "tcp"])
def test_tshark_decodes_the_whole_call(netbench: Callable[[], NetBench], tmp_path: Path,
                                       kind: str) -> None:
    require_tool("tshark")
    require_tool("tcpdump")
    ns = build_namespaces(netbench())
    pki = make_pki(tmp_path / "pki") if kind == "tls" else None

    async def answer(call: Call, offer: bytes) -> Answer | Reject:
        await asyncio.sleep(0.05)
        return Answer(ANSWER)

    cap = LabCapture(tmp_path / "cap", {n: ns[n].ns for n in ("client", "expe", "cms")})
    cap.start()
    try:
        path = SeedPath(ns, pki, kind, answer)
        try:
            _call(path)
        finally:
            errors = path.stop()
    finally:
        cap.stop()
    assert not errors
    pcap = cap.merge(tmp_path / "call.pcapng").path  # no secrets inside: tshark gets the file
    keylog = pki.keylog if pki is not None else None
    seen = sip_messages(tshark(pcap, kind, keylog, "-Y", "sip", "-T", "pdml"))
    assert sorted(seen) == sorted(iface for iface, _, _ in HOPS)
    for iface, up, down in HOPS:
        assert seen[iface] == expected(up, down), iface
    bad = tshark(pcap, kind, keylog, "-Y", "_ws.malformed || _ws.expert.severity == error")
    assert bad == ""
    # a copy TCP sent again (a loaded machine retransmits now and then) is not a message
    copies = ("tcp.analysis.retransmission || tcp.analysis.fast_retransmission"
              " || tcp.analysis.spurious_retransmission")
    undecoded = f"tcp.len > 0 && !sip && !tls.handshake && !tls.alert_message && !({copies})"
    assert tshark(pcap, kind, keylog, "-Y", f"{undecoded} && !tls.change_cipher_spec") == ""
    sdp = tshark(pcap, kind, keylog, "-Y", "sdp", "-T", "fields", "-e", "sdp.media")
    assert sdp.split("\n").count("applicationsharing 51577 TCP/RTP/AVP 127") == 8  # 2 x 4 hops
    if kind == "tls":  # the key log is what makes it readable: without it, no SIP at all
        assert tshark(pcap, kind, None, "-Y", "sip") == ""
