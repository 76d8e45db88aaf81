"""coturn's own test client (``turnutils_uclient -T``) against our TURN server, started with
``uclab turn-server`` in the server namespace; the capture is decoded by tshark without a
malformed packet, and MESSAGE-INTEGRITY and FINGERPRINT of every message are recomputed
independently."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROOT, require_tool
from tests.nethelp import NetBench, stop_process, tcpdump, wait_listening
from tests.turncapture import check_integrity, long_term, stun_messages, tshark_check
from tests.turnhelp import (
    CLI,
    PASSWORD,
    REALM,
    SRV_IN,
    SRV_OUT,
    USER,
    build_turn_net,
)

ALLOCATE, REFRESH, CREATE_PERMISSION, CONNECT, CONNECTION_BIND, CONNECTION_ATTEMPT = (
    0x003, 0x004, 0x008, 0x00A, 0x00B, 0x00C)


def test_uclient_tcp_relay_against_our_server(
    netbench: Callable[[], NetBench], tmp_path: Path
) -> None:
    require_tool("turnutils_uclient")
    require_tool("tshark")
    net = build_turn_net(netbench())
    log = tmp_path / "turn-server.log"
    with log.open("wb") as out:
        server = net.srv.popen(
            "timeout", "60", sys.executable, "-m", "lab", "-v", "turn-server",
            "--listen", f"{SRV_IN}:3478", "--relay-ip", SRV_OUT, "--min-port", "24000",
            "--max-port", "24099", "--realm", REALM, "--user", f"{USER}:{PASSWORD}",
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    pcap = tmp_path / "uclient.pcap"
    try:
        wait_listening(net.srv, 3478)
        with tcpdump(net.srv, "eth0", pcap):
            run = net.cli.exec("timeout", "40", "turnutils_uclient", "-T", "-u", USER, "-w",
                               PASSWORD, "-n", "10", "-m", "2", "-L", CLI, SRV_IN, check=False)
    finally:
        stop_process(server, timeout=10)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert re.search(r"tot_send_msgs=20, tot_recv_msgs=20", run.stdout), run.stdout[-2000:]
    assert "Total lost packets 0 " in run.stdout

    messages = stun_messages(pcap, 3478)
    methods = {m.method for m in messages}
    assert {ALLOCATE, REFRESH, CREATE_PERMISSION, CONNECT, CONNECTION_BIND,
            CONNECTION_ATTEMPT} <= methods, sorted(methods)
    assert tshark_check(pcap, 3478) == len(messages)
    key = long_term(USER, REALM, PASSWORD)
    checked = 0
    for msg in messages:
        mi_ok, fp_ok = check_integrity(msg, key)
        assert mi_ok is not False and fp_ok is not False, msg
        checked += mi_ok is True
    assert checked >= len(messages) // 2  # every authenticated request and its answer
