"""The ladder on a live capture of the seed flow played by real stacks (tests/interop/
ladderflow.py: SIP over TLS through our three proxies, coturn as Expressway-E's TURN server,
ICE and RTP over the bridged path), checked against tshark, the independent dissector, reading
the same merged file: every SIP message and every STUN message on 3478 that the ladder places
is what tshark decodes in that frame; tshark decrypts with the embedded secrets, sees the
``node:iface`` names and finds nothing malformed. (tshark finds TLS on the traversal port 7001
by itself, but needs ``-d tls.port==7001,sip`` to read SIP in it.)"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from lab.capture.pcapfile import read_capture
from lab.ladder import build_ladder
from lab.ladder.events import Kind
from lab.ladder.packets import segments
from lab.ladder.tcp import connections
from tests.conftest import require_tool
from tests.interop.ladderflow import flow_names, run_flow
from tests.ladderhelp import by_frame, renumber
from tests.nethelp import NetBench
from tests.tsharkargs import sip_over_tls

STUN_TYPES = {("Allocate", "request"): "0x0003", ("Allocate", "error"): "0x0113",
              ("Allocate", "success"): "0x0103", ("CreatePermission", "request"): "0x0008",
              ("CreatePermission", "success"): "0x0108", ("Refresh", "request"): "0x0004",
              ("Refresh", "success"): "0x0104", ("ConnectionAttempt", "indication"): "0x001c",
              ("ConnectionBind", "request"): "0x000b", ("ConnectionBind", "success"): "0x010b"}


def _rows(pcap: Path, flt: str, *names: str) -> list[list[str]]:
    """One row per message (several messages in one frame: one row each)."""
    argv = ["tshark", "-r", str(pcap), *sip_over_tls(),  # SIP in the traversal zone too
            "-Y", flt, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;"]
    for name in names:
        argv += ["-e", name]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    rows: list[list[str]] = []
    for line in out.splitlines():
        cols = [c.split(";") for c in line.split("\t")]
        width = max(len(c) for c in cols)
        rows += [[c[i] if len(c) > 1 else c[0] for c in cols] for i in range(width)]
    return rows


def test_ladder_of_a_live_flow_agrees_with_tshark(netbench: Callable[[], NetBench],
                                                  tmp_path: Path) -> None:
    require_tool("tshark")
    require_tool("turnserver")
    run = run_flow(netbench(), tmp_path, "tls")
    ladder = build_ladder(run.pcap, names=flow_names())  # secrets come from the file itself
    assert ladder.verdict.passed, (ladder.verdict.summary, ladder.verdict.reasons)
    values = {s.number: s.values for s in ladder.steps}
    assert values[9]["XOR-RELAYED-ADDRESS"] == "192.168.1.229:24000"
    assert values[17]["first bytes"] == "00 6c 00 01"
    assert all(e.transport == "TLS" for e in ladder.analysis.events if e.kind is Kind.SIP)

    # the same messages, between the same endpoints, as tshark dissects them (each message is
    # in the file once per interface that saw it; tshark decodes one copy, we read another)
    sip = {tuple(r) for r in _rows(run.pcap, "sip", "ip.src", "tcp.srcport", "ip.dst",
                                   "tcp.dstport", "sip.Call-ID", "sip.CSeq")}
    for ev in ladder.analysis.events:
        if ev.sip is not None:
            key = (ev.src.ip, str(ev.src.port), ev.dst.ip, str(ev.dst.port), ev.sip.call_id,
                   f"{ev.sip.cseq} {ev.sip.cseq_method}")
            assert key in sip, ev

    stun = {tuple(r) for r in _rows(run.pcap, "stun && tcp.port==3478", "ip.src", "ip.dst",
                                    "stun.type", "stun.id")}
    checked = 0
    for ev in ladder.analysis.events:
        st = ev.stun
        on_3478 = 3478 in (ev.src.port, ev.dst.port)  # tshark reads 443 as TLS, not STUN
        if st is not None and on_3478 and not ev.framing and (st.method, st.cls) in STUN_TYPES:
            stun_key = (ev.src.ip, ev.dst.ip, STUN_TYPES[(st.method, st.cls)], st.transaction_id)
            assert stun_key in stun, ev
            checked += 1
    assert checked >= 10

    interfaces = subprocess.run(["tshark", "-r", str(run.pcap), "-T", "fields", "-e",
                                 "frame.interface_name"], capture_output=True, text=True,
                                timeout=60, check=True).stdout.split()
    assert set(interfaces) == set(ladder.analysis.interfaces)
    assert {"cms:eth0", "expe:outside", "fw-inside:p1"} <= set(interfaces)
    assert _rows(run.pcap, "_ws.malformed || _ws.expert.severity==error", "frame.number") == []

    # a capture drop on the sender's tap (tcpdump's "dropped by kernel" on a loaded machine):
    # cut the sender's copy of the record after each TLS connection's ClientHello; the copies
    # other taps saw fill the holes and tshark still decrypts every connection
    cap = read_capture(run.pcap)
    tcp, frames = connections(segments(cap)), by_frame(cap)
    cut: set[int] = set()
    for (_conn, direction), stream in tcp.streams.items():
        if direction == "up" and stream.chunks and stream.chunks[0].data[:1] == b"\x16":
            cut.update([f for f in stream.frames if frames[f].payload][1:2])
    assert len(cut) >= 3
    holed = renumber(cap, (p for p in cap.packets if p.number not in cut))
    again = build_ladder(holed, names=flow_names())
    assert (again.analysis.tls_opaque, again.analysis.tls_decrypted) == (
        0, ladder.analysis.tls_decrypted), again.analysis.tls_notes
    assert again.verdict.passed, (again.verdict.summary, again.verdict.reasons)
