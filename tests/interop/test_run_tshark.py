"""``uclab run screen-share --pcap --json`` read back by tshark, the independent dissector: every
step of flow.md §3 in order and every value of the tech note, on the wire.

The merged capture holds each packet once per interface that saw it, so it is first cut by
tshark itself into one file per interface (``-Y frame.interface_name==... -w``, which keeps the
TLS secrets), and each hop is read where it is unambiguous: the Edge's external interface (SIP
to Expressway-E, the Edge's connection to the relayed address, Expressway-E's new connection for
the BYE), Expressway-C's (the traversal zone, port 7001), CMS's (SIP, TURN control on 33347 and
the ConnectionBind connection from 33348). The SDPs are compared with flow.md §4 as the SDP
tests read it from the spec (tests/unit/test_sdp_flow.py), not with what the product computed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool
from tests.labhelp import lab_name, lab_namespaces
from tests.netns.test_run_lab import uclab
from tests.tsharkargs import sip_over_tls
from tests.unit.test_sdp_flow import ANSWER, OFFER

EDGE_OUT, EXPE_OUT, EXPE_IN = "192.168.1.252", "192.168.1.229", "10.48.54.229"
EXPC, CMS = "10.48.54.227", "10.48.54.230"
LAB_ONLY = ("a=ice-ufrag:", "a=ice-pwd:", "a=rtpmap:")  # [LAB] lines, not in flow.md §4
ADDRESS_ATTRS = {"0x0001", "0x0012", "0x0016", "0x0020"}  # attributes tshark gives ipv4/port of
Row = list[str]


class Wire:
    """tshark over one interface's slice of the run's capture."""

    def __init__(self, pcap: Path, iface: str, folder: Path) -> None:
        self.path = folder / (iface.replace(":", "_") + ".pcapng")
        subprocess.run(["tshark", "-r", str(pcap), "-Y", f'frame.interface_name=="{iface}"',
                        "-w", str(self.path)], capture_output=True, timeout=60, check=True)

    def fields(self, flt: str, *names: str, sep: str = ",") -> list[Row]:
        argv = ["tshark", "-r", str(self.path), *sip_over_tls(),
                "-d", "tcp.port==24000,rtp", "-o", "rtp.version0_type:STUN packets",
                "-Y", flt, "-T", "fields", "-E", "occurrence=a", "-E", f"aggregator={sep}",
                "-e", "frame.time_epoch"]
        for name in names:
            argv += ["-e", name]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                             check=True).stdout
        return [line.split("\t") for line in out.splitlines() if line.strip()]


def sip_messages(wire: Wire, port: int) -> list[tuple[float, str, str, str]]:
    """(time, source address, "INVITE" or "200", CSeq) of every SIP message on ``port``."""
    rows = wire.fields(f"tcp.port=={port} && (sip.Request-Line || sip.Status-Line)", "ip.src",
                       "sip.Method", "sip.Status-Code", "sip.CSeq", sep="|")
    out = []
    for t, src, method, status, cseq in rows:
        assert "|" not in cseq, f"two SIP messages in one frame: {cseq}"
        out.append((float(t), src, method or status, cseq))
    return out


def hop(msgs: list[tuple[float, str, str, str]], fwd: str) -> list[tuple[str, str, str]]:
    return [("fwd" if src == fwd else "back", what, cseq) for _t, src, what, cseq in msgs]


def when(msgs: list[tuple[float, str, str, str]], what: str, cseq: str) -> float:
    return next(t for t, _src, w, c in msgs if (w, c) == (what, cseq))


def sdp(wire: Wire, port: int, flt: str) -> str:
    """The m= line and attributes of the first SDP matching ``flt`` ([LAB] lines dropped)."""
    rows = wire.fields(f"tcp.port=={port} && {flt} && sdp", "sdp.media", "sdp.media_attr",
                       sep="|")
    _t, media, attrs = rows[0]
    lines = [f"m={media}"] + [f"a={a}" for a in attrs.split("|")]
    return "\n".join(x for x in lines if not x.startswith(LAB_ONLY)) + "\n"


def stun(wire: Wire) -> list[dict[str, Any]]:
    rows = wire.fields("stun && tcp.port==3478", "tcp.srcport", "tcp.dstport", "stun.type",
                       "stun.att.username", "stun.att.transp", "stun.att.error.class",
                       "stun.att.error", "stun.att.type", "stun.att.ipv4", "stun.att.port")
    out = []
    for t, sport, dport, typ, user, transp, eclass, enum, atypes, ips, ports in rows:
        addr_types = [a for a in atypes.split(",") if a in ADDRESS_ATTRS]
        addrs = [f"{ip}:{p}" for ip, p in zip(ips.split(","), ports.split(","), strict=False)
                 if ip]
        out.append({"t": float(t), "ports": (int(sport), int(dport)), "type": typ,
                    "user": user, "transport": transp,
                    "error": f"{eclass}{int(enum):02d}" if eclass else "",
                    "addrs": dict(zip(addr_types, addrs, strict=False)) if addrs else {},
                    "peers": [a.split(":")[0] for a in addrs]})
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require_tool("tshark")
    tmp = tmp_path_factory.mktemp("run")
    lab = lab_name()
    pcap, out = tmp / "share.pcapng", tmp / "share.json"
    proc = uclab("run", "screen-share", "--name", lab, "--pcap", str(pcap), "--json", str(out),
                 "--media-seconds", "0.5")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert lab_namespaces(lab) == []
    wires = {iface: Wire(pcap, iface, tmp)
             for iface in ("sfb-edge:external", "expressway-c:eth0", "cms:eth0")}
    return {"pcap": pcap, "json": json.loads(out.read_text()), "wires": wires}


def test_three_hop_invite_100_trying_reinvite_and_bye_from_cms(run: dict[str, Any]) -> None:
    w = run["wires"]
    hops = [(sip_messages(w["sfb-edge:external"], 5061), EDGE_OUT),
            (sip_messages(w["expressway-c:eth0"], 7001), EXPE_IN),
            (sip_messages(w["cms:eth0"], 5061), EXPC)]
    for msgs, fwd in hops:
        assert hop(msgs, fwd) == [
            ("fwd", "INVITE", "1 INVITE"), ("back", "100", "1 INVITE"),
            ("back", "200", "1 INVITE"), ("fwd", "ACK", "1 ACK"),
            ("fwd", "INVITE", "2 INVITE"), ("back", "100", "2 INVITE"),  # the re-INVITE
            ("back", "200", "2 INVITE"), ("fwd", "ACK", "2 ACK"),
            ("back", "BYE", "1 BYE"), ("fwd", "200", "1 BYE")]  # CMS hangs up
    # each request crosses the hops in order, each answer back in the opposite order
    for what, cseq, order in (("INVITE", "1 INVITE", 1), ("200", "1 INVITE", -1),
                              ("ACK", "1 ACK", 1), ("INVITE", "2 INVITE", 1),
                              ("200", "2 INVITE", -1), ("ACK", "2 ACK", 1),
                              ("BYE", "1 BYE", -1)):
        times = [when(msgs, what, cseq) for msgs, _ in hops][::order]
        assert times == sorted(times), (what, cseq, times)


def test_sdp_offer_and_answer_are_flow_4_on_every_hop(run: dict[str, Any]) -> None:
    w = run["wires"]
    for wire, port in ((w["sfb-edge:external"], 5061), (w["expressway-c:eth0"], 7001),
                       (w["cms:eth0"], 5061)):
        assert sdp(wire, port, 'sip.CSeq=="1 INVITE" && sip.Method==INVITE') == OFFER
        assert sdp(wire, port, 'sip.CSeq=="1 INVITE" && sip.Status-Code==200') == ANSWER


def test_turn_allocation_permission_and_connection_bind(run: dict[str, Any]) -> None:
    msgs = stun(run["wires"]["cms:eth0"])
    control = [m for m in msgs if 33347 in m["ports"]]
    types = [m["type"] for m in control]
    assert types[:7] == ["0x0003", "0x0113", "0x0003", "0x0103", "0x0008", "0x0108", "0x001c"]
    assert set(types[7:]) <= {"0x0004", "0x0104"}  # Refresh LIFETIME 0 after the BYE
    first, err, second, ok, perm, _perm_ok, attempt = control[:7]
    assert first["user"] == "" and first["transport"] == "0x06"  # no credentials, TCP
    assert err["error"] == "401"
    assert second["user"] == "cms" and second["transport"] == "0x06"
    assert ok["addrs"] == {"0x0016": f"{EXPE_OUT}:24000",  # XOR-RELAYED-ADDRESS
                           "0x0020": f"{CMS}:33347"}  # XOR-MAPPED-ADDRESS
    assert EDGE_OUT in perm["peers"]  # CreatePermission for the Edge
    assert attempt["addrs"] == {"0x0012": f"{EDGE_OUT}:53577"}  # ConnectionAttempt
    bind = [m for m in msgs if 33348 in m["ports"]]
    assert [(m["type"], m["ports"]) for m in bind] == [("0x000b", (33348, 3478)),
                                                       ("0x010b", (3478, 33348))]
    assert bind[0]["user"] == "cms"
    assert first["t"] < err["t"] < second["t"] < ok["t"] < perm["t"] < attempt["t"] < bind[0]["t"]


def test_edge_connects_from_53577_and_one_check_each_way(run: dict[str, Any]) -> None:
    edge = run["wires"]["sfb-edge:external"]
    syn = edge.fields("tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.dstport==24000", "ip.src",
                      "tcp.srcport", "ip.dst")
    assert [r[1:] for r in syn] == [[EDGE_OUT, "53577", EXPE_OUT]]
    payload = edge.fields("tcp.port==24000 && tcp.len>0", "tcp.payload")
    assert payload[0][1].startswith("006c0001")  # RFC 4571 length 108, Binding Request
    checks = [(src, typ) for _t, src, types in edge.fields("tcp.port==24000 && stun", "ip.src",
                                                          "stun.type")
              for typ in types.split(",")]
    assert checks == [(EDGE_OUT, "0x0001"), (EXPE_OUT, "0x0101"), (EXPE_OUT, "0x0001"),
                      (EDGE_OUT, "0x0101")]
    rtp = edge.fields("tcp.port==24000 && rtp", "ip.src", "rtp.p_type")
    assert {src for _t, src, _pt in rtp} == {EDGE_OUT, EXPE_OUT}  # both ways
    assert {pt for _t, _src, pts in rtp for pt in pts.split(",")} == {"127"}
    # the ConnectionAttempt follows the Edge's connect; media follows the checks
    attempt = next(m for m in stun(run["wires"]["cms:eth0"]) if m["type"] == "0x001c")
    assert float(syn[0][0]) < attempt["t"]
    last_check = max(float(t) for t, _s, _ty in edge.fields("tcp.port==24000 && stun",
                                                            "ip.src", "stun.type"))
    assert min(float(t) for t, _s, _p in rtp) > float(syn[0][0])
    assert max(float(t) for t, _s, _p in rtp) > last_check


def test_bye_opens_a_new_connection_from_expressway_e_f2(run: dict[str, Any]) -> None:
    edge = run["wires"]["sfb-edge:external"]
    syns = edge.fields(f"tcp.flags.syn==1 && tcp.flags.ack==0 && ip.src=={EXPE_OUT}",
                       "tcp.srcport", "ip.dst", "tcp.dstport")
    assert len(syns) == 1
    _t, sport, dst, dport = syns[0]
    assert 25000 <= int(sport) <= 29999 and (dst, dport) == (EDGE_OUT, "5061")
    bye = edge.fields("sip.Method==BYE", "tcp.srcport")
    assert [r[1] for r in bye] == [sport]


def test_nothing_malformed_and_the_json_agrees(run: dict[str, Any]) -> None:
    for wire in run["wires"].values():
        assert wire.fields("_ws.malformed || _ws.expert.severity==error", "frame.number") == []
    data = run["json"]
    assert data["verdict"]["verdict"] == "pass" and data["run"]["passed"] is True
    steps = data["steps"]
    assert [s["number"] for s in steps] == list(range(1, 34))
    assert all(s["status"] == "seen" and s["time"] is not None for s in steps)
    assert steps[8]["values"]["XOR-RELAYED-ADDRESS"] == f"{EXPE_OUT}:24000"
    media = {(m["source"], m["destination"]) for m in data["media"] if 127 in m["payload_types"]}
    assert (f"{EDGE_OUT}:53577", f"{EXPE_OUT}:24000") in media
    assert (f"{EXPE_OUT}:24000", f"{EDGE_OUT}:53577") in media
    interfaces = subprocess.run(["tshark", "-r", str(run["pcap"]), "-T", "fields", "-e",
                                 "frame.interface_name"], capture_output=True, text=True,
                                timeout=60, check=True).stdout.split()
    assert {"sfb-client:eth0", "sfb-nat:outside", "fw-outside:sfb-edge", "cms:eth0",
            "fw-inside:vc-internal"} <= set(interfaces)
