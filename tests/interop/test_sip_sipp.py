"""sipp (an independent SIP implementation) as UAC and as UAS through our proxy, over TCP
(sipp 3.6.1 here is built without TLS): calls with a re-INVITE along the route set complete,
and every message our proxy emitted parses with sipmessage (a second, independent parser)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import sipmessage

from lab.aio.sip_proxy import SipProxy
from lab.aio.sip_transport import Connection, Listener, SipTransport, TransportConfig
from lab.proto.sip.core import Target
from lab.proto.sip.message import Message
from lab.proto.sip.proxy import ProxyConfig, Side, StaticRoute
from tests.conftest import require_tool
from tests.nethelp import NetBench, wait_listening
from tests.netns.siplab import NodeThread

DATA = Path(__file__).resolve().parent.parent / "data" / "sip" / "sipp"
CALLS = 5


class TappedTransport(SipTransport):
    """Keeps a copy of every message the proxy writes."""

    sent: list[bytes]

    def _write(self, conn: Connection, message: Message) -> None:
        self.sent.append(message.encode())
        super()._write(conn, message)


def test_sipp_uac_and_uas_through_our_proxy(netbench: Callable[[], NetBench],
                                            tmp_path: Path) -> None:
    sipp = require_tool("sipp")
    bench = netbench()
    uac, prx, uas = bench.node("uac"), bench.node("proxy"), bench.node("uas")
    bench.segment("lan", [(uac, "eth0", "10.0.0.1/24"), (prx, "eth0", "10.0.0.2/24"),
                          (uas, "eth0", "10.0.0.3/24")])
    config = ProxyConfig("proxy", sides=(Side("lan", "10.0.0.2", 5060, "tcp"),),
                         routes=(StaticRoute(("10.0.0.3",), "lan",
                                             Target("tcp", "10.0.0.3", 5060)),))
    proxy = SipProxy(config, TransportConfig("tcp", (Listener("10.0.0.2", 5060, "lan"),)))
    tapped = TappedTransport(proxy.core, proxy.transport.config)
    tapped.sent = []
    proxy.transport = tapped
    inject = tmp_path / "callee.csv"
    inject.write_text("SEQUENTIAL\n10.0.0.3;5060;\n")
    common = ["-t", "t1", "-nostdin", "-timeout", "30", "-timeout_error", "-max_recv_loops",
              "100"]
    callee = uas.popen(sipp, "-sf", str(DATA / "uas_reinvite.xml"), "-i", "10.0.0.3",
                       "-p", "5060", "-m", str(CALLS), *common,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_listening(uas, 5060, "10.0.0.3")
    thread = NodeThread(prx.ns, proxy.serve)
    try:
        caller = uac.exec(sipp, "10.0.0.2:5060", "-sf", str(DATA / "uac_reinvite.xml"),
                          "-inf", str(inject), "-s", "meeting", "-i", "10.0.0.1", "-p", "5070",
                          "-m", str(CALLS), "-r", "5", *common, check=False)
        out, _ = callee.communicate(timeout=40)
    finally:
        if callee.poll() is None:
            callee.kill()
            callee.wait()
        thread.stop()
    assert caller.returncode == 0, caller.stdout[-3000:]
    assert callee.returncode == 0, out.decode(errors="replace")[-3000:]
    assert thread.error is None
    methods = [m.split(b" ", 1)[0] for m in tapped.sent]
    # INVITE, ACK, re-INVITE, ACK, BYE forwarded per call; 100 Trying + 3 responses back
    assert methods.count(b"INVITE") == 2 * CALLS and methods.count(b"BYE") == CALLS
    assert methods.count(b"ACK") == 2 * CALLS
    for data in tapped.sent:
        parsed = sipmessage.Message.parse(data)
        assert parsed.headers.get("Call-ID")
    assert asyncio.iscoroutinefunction(proxy.serve)
