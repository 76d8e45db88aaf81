"""coturn's own test client (``turnutils_uclient -T``, and ``-t -y`` for UDP relays with
channels or Send indications) against our TURN server, started with ``uclab turn-server`` in the
server namespace; the capture is decoded by tshark without a
malformed packet, and MESSAGE-INTEGRITY and FINGERPRINT of every message are recomputed
independently."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.nethelp import NetBench, tcpdump
from tests.turncapture import (
    check_integrity,
    long_term,
    stun_messages,
    tshark_check,
    tshark_text,
)
from tests.turnhelp import (
    CLI,
    PASSWORD,
    REALM,
    SRV_IN,
    USER,
    build_turn_net,
    uclab_turn_server,
)

ALLOCATE, REFRESH, CREATE_PERMISSION, CONNECT, CONNECTION_BIND, CONNECTION_ATTEMPT = (
    0x003, 0x004, 0x008, 0x00A, 0x00B, 0x00C)
CHANNEL_BIND, SEND, DATA = 0x0009, 0x0016, 0x0017  # request; Send and Data indications


def test_uclient_tcp_relay_against_our_server(
    netbench: Callable[[], NetBench], tmp_path: Path
) -> None:
    require_tool("turnutils_uclient")
    require_tool("tshark")
    net = build_turn_net(netbench())
    pcap = tmp_path / "uclient.pcap"
    with uclab_turn_server(net.srv, tmp_path / "turn-server.log", lifetime_s=60, verbose=True), \
            tcpdump(net.srv, "eth0", pcap):
        run = net.cli.exec("timeout", "40", "turnutils_uclient", "-T", "-u", USER, "-w",
                           PASSWORD, "-n", "10", "-m", "2", "-L", CLI, SRV_IN, check=False)
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


@pytest.mark.parametrize(("control", "mode"), [
    ("tcp", "channels"), ("tcp", "send-indications"), ("udp", "channels"),
    ("udp", "send-indications")])
def test_uclient_udp_relays(
    netbench: Callable[[], NetBench], tmp_path: Path, control: str, mode: str
) -> None:
    """``turnutils_uclient -y``: two clients with UDP relays (RFC 8656), each talking to the
    other's relayed address, their data going to the server as ChannelData after a ChannelBind
    (the default) or as Send/Data indications (``-s``), over a TCP control connection (``-t``)
    or over UDP (the server's ``--listen-udp``)."""
    require_tool("turnutils_uclient")
    require_tool("tshark")
    net = build_turn_net(netbench())
    pcap = tmp_path / "uclient-udp.pcap"
    flags = ["-y"] + (["-t"] if control == "tcp" else []) + (
        ["-s"] if mode == "send-indications" else [])
    with uclab_turn_server(net.srv, tmp_path / "turn-server.log", lifetime_s=60,
                           udp=control == "udp"), tcpdump(net.srv, "eth0", pcap):
        run = net.cli.exec("timeout", "40", "turnutils_uclient", *flags, "-u", USER, "-w",
                           PASSWORD, "-n", "10", "-m", "2", "-L", CLI, SRV_IN, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    totals = re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", run.stdout)[-1]
    assert int(totals[0]) >= 20 and totals[0] == totals[1], run.stdout[-2000:]
    assert "Total lost packets 0 " in run.stdout
    tshark_check(pcap, 3478)
    types = [int(t, 16) for row in tshark_text(pcap, "-Y", f"stun && {control}.port == 3478",
                                               "-T", "fields", "-e", "stun.type").split()
             for t in row.split(",")]
    channels = tshark_text(pcap, "-Y", "stun.channel", "-T", "fields", "-e", "stun.channel")
    if mode == "channels":
        assert CHANNEL_BIND in types and channels.split(), sorted(set(types))
    else:
        assert SEND in types and DATA in types and not channels.split(), sorted(set(types))
