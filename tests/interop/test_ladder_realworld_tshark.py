"""tshark, the independent dissector, reads the SIP of the real-world captures
(tests/data/ladder/realworld, see its README) as the ladder does: through GRE, ERSPAN,
IP-in-IP, PPP, IPv4 and IPv6 fragments, Linux cooked captures of two interfaces, and TCP
without its handshake; it finds the same MS-TURN messages the ladder counts; and its RTP
analysis counts the G.711 packets the ladder does, each once per interface."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lab.ladder import build_ladder
from tests.conftest import require_tool

DATA = Path(__file__).resolve().parent.parent / "data" / "ladder" / "realworld"
CAPTURES = ["sip-gre.pcap", "sip-ipip.pcap", "sip-erspan.pcap", "sip-ppp.pcap",
            "sip-fragments.pcap", "sip-udp-rtp.pcap", "sip-tcp-rtp.pcap",
            "sip-tcp-40000-nosyn.pcap"]


def _tshark(*args: str) -> list[list[str]]:
    out = subprocess.run(["tshark", "-n", *args], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


@pytest.mark.parametrize("name", CAPTURES)
def test_sip_read_like_tshark(name: str) -> None:
    require_tool("tshark")
    rows = _tshark("-r", str(DATA / name), "-Y", "sip", "-T", "fields", "-E", "occurrence=f",
                   "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.Call-ID")
    theirs = sorted((m or s, c) for m, s, c in rows)
    ours = sorted((e.sip.method or str(e.sip.status), e.sip.call_id)
                  for e in build_ladder(DATA / name).analysis.events if e.sip is not None)
    assert ours and ours == theirs


def test_msturn_count_is_tsharks() -> None:
    require_tool("tshark")
    rows = _tshark("-r", str(DATA / "msturn-udp.pcap"), "-Y", "classicstun", "-T", "fields",
                   "-e", "frame.number")
    warnings = " ".join(build_ladder(DATA / "msturn-udp.pcap").analysis.warnings)
    assert f"{len(rows)} MS-TURN messages" in warnings


def test_g711_streams_like_tsharks_rtp_analysis() -> None:
    """tshark -z rtp,streams on the tcpdump -i any capture: each G.711 packet appears twice
    (kamailio's namespace forwards it: in on one interface, out on the other); the ladder
    keeps one per direction, and its jitter (8 kHz clock) is within tshark's range."""
    require_tool("tshark")
    out = subprocess.run(["tshark", "-n", "-r", str(DATA / "sip-udp-rtp.pcap"), "-q", "-z",
                          "rtp,streams"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    g711 = [line.split() for line in out.splitlines() if " g711A " in line]
    assert len(g711) == 2
    packets = {int(cols[cols.index("g711A") + 1]) for cols in g711}
    max_jitter = max(float(cols[-2]) for cols in g711)
    legs = [m for m in build_ladder(DATA / "sip-udp-rtp.pcap").media if m.payload_types == [8]]
    assert {2 * m.packets for m in legs} == packets
    assert all(m.jitter_ms <= max_jitter + 0.05 for m in legs)
