"""RFC 6062 TCP TURN between coturn's own programs (``turnserver`` and ``turnutils_uclient -T``),
captured on every interface of both namespaces (loopback too: coturn joins its two relayed
addresses over it): the ladder's reading of every STUN/TURN message is the one tshark makes
of the same merged file, the data connections are seen to change nature after ConnectionBind,
and a second ladder on the same bytes gives the same events."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from lab.capture import LabCapture, read_capture
from lab.ladder import analyse_capture
from tests.conftest import require_tool
from tests.nethelp import NetBench
from tests.turnhelp import CLI, PASSWORD, SRV_IN, SRV_OUT, USER, build_turn_net, coturn

TYPES = {"request": 0x0000, "indication": 0x0010, "success": 0x0100, "error": 0x0110}
METHODS = {"Allocate": 0x003, "Refresh": 0x004, "CreatePermission": 0x008, "Connect": 0x00A,
           "ConnectionBind": 0x00B, "ConnectionAttempt": 0x00C}


def _tshark_stun(pcap: Path) -> set[tuple[str, int, str, int, str, str]]:
    argv = ["tshark", "-r", str(pcap), "-Y", "stun", "-T", "fields", "-E", "occurrence=a",
            "-E", "aggregator=;", "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst",
            "-e", "tcp.dstport", "-e", "stun.type", "-e", "stun.id"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    found = set()
    for line in out.splitlines():
        src, sport, dst, dport, types, ids = line.split("\t")
        for t, i in zip(types.split(";"), ids.split(";"), strict=True):
            found.add((src, int(sport), dst, int(dport), t, i))
    return found


def test_coturn_tcp_relay_read_like_tshark(netbench: Callable[[], NetBench],
                                           tmp_path: Path) -> None:
    require_tool("turnutils_uclient")
    require_tool("tshark")
    net = build_turn_net(netbench())
    cap = LabCapture(tmp_path / "parts", {"cms": net.cli.ns, "expe": net.srv.ns},
                     include_loopback=True)
    with coturn(net.srv, tmp_path / "coturn.log", "--allow-loopback-peers", listen=SRV_IN,
                relay=SRV_OUT), cap:
        run = net.cli.exec("timeout", "40", "turnutils_uclient", "-T", "-u", USER, "-w",
                           PASSWORD, "-n", "3", "-m", "1", "-z", "5", "-L", CLI, SRV_IN,
                           check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    pcap = cap.merge(tmp_path / "coturn.pcapng").path
    analysis = analyse_capture(read_capture(pcap))

    ours = {(e.src.ip, e.src.port, e.dst.ip, e.dst.port,
             f"0x{METHODS[e.stun.method] | TYPES[e.stun.cls]:04x}", e.stun.transaction_id)
            for e in analysis.events if e.stun is not None}
    # tshark reads each tap on its own: in the merged file a segment that one tap missed (a
    # kernel drop on a loaded machine) is seen by tshark only as another tap's copy, which it
    # takes for a retransmission and does not dissect; the ladder fills it from that copy.
    parts = sorted((tmp_path / "parts").glob("*.pcap"))
    theirs = set().union(*(_tshark_stun(part) for part in parts))
    assert ours == theirs
    seen = {(e.stun.method, e.stun.cls) for e in analysis.events if e.stun is not None}
    assert {("Allocate", "error"), ("Allocate", "success"), ("CreatePermission", "success"),
            ("Connect", "success"), ("ConnectionAttempt", "indication"),
            ("ConnectionBind", "success")} <= seen
    errors = {e.stun.error for e in analysis.events if e.stun is not None and e.stun.error}
    assert errors == {(401, "Unauthorized")}
    bound = [c for c in analysis.connections if c.bound]
    assert len(bound) == 2 and all(c.protocol == "STUN + data" for c in bound)
    assert all(c.octets["up"] > 100 and c.octets["down"] > 100 for c in bound)
    relay = [c for c in analysis.connections if c.client.ip == SRV_OUT]
    assert len(relay) == 1 and relay[0].seen_on == ["expe:lo"]  # relay to relay, over lo

    again = analyse_capture(read_capture(pcap))
    assert [(e.frame, e.label) for e in again.events] == [(e.frame, e.label)
                                                           for e in analysis.events]
