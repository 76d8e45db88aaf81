"""Our UA places a call through kamailio (stateful proxy, Record-Route) to a sipp UAS:
INVITE, ACK, re-INVITE along kamailio's route set, BYE; every message our UA emitted parses
with sipmessage."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import sipmessage

from lab.aio.sip_transport import Connection, Listener, SipTransport, TransportConfig
from lab.aio.sip_ua import SipUserAgent
from lab.proto.sip.message import Message
from lab.proto.sip.ua import UaConfig
from lab.proto.sip.uri import Uri
from tests.conftest import require_tool
from tests.interop.kamailio_run import start_kamailio
from tests.nethelp import NetBench, stop_process, wait_listening
from tests.netns.siplab import NodeThread

DATA = Path(__file__).resolve().parent.parent / "data" / "sip" / "sipp"


class Tapped(SipTransport):
    sent: list[bytes]

    def _write(self, conn: Connection, message: Message) -> None:
        self.sent.append(message.encode())
        super()._write(conn, message)


def test_our_ua_through_kamailio_to_sipp(netbench: Callable[[], NetBench],
                                         tmp_path: Path) -> None:
    require_tool("kamailio")
    sipp = require_tool("sipp")
    bench = netbench()
    ua_ns, kam, uas = bench.node("ua"), bench.node("kam"), bench.node("uas")
    bench.segment("lan", [(ua_ns, "eth0", "10.0.0.1/24"), (kam, "eth0", "10.0.0.2/24"),
                          (uas, "eth0", "10.0.0.3/24")])
    proc = start_kamailio(kam, tmp_path / "kam", "10.0.0.2:5060", "10.0.0.3:5060")
    callee = uas.popen(sipp, "-sf", str(DATA / "uas_reinvite.xml"), "-t", "t1", "-nostdin",
                       "-i", "10.0.0.3", "-p", "5060", "-m", "1", "-timeout", "30",
                       "-timeout_error", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    config = UaConfig(aor=Uri("sip", "sfb.lab", "alice"),
                      contact=Uri("sip", "10.0.0.1", "alice", port=5070,
                                  params=(("transport", "tcp"),)),
                      host="10.0.0.1", port=5070, transport="tcp",
                      outbound_proxy=Uri("sip", "10.0.0.2", port=5060,
                                         params=(("transport", "tcp"), ("lr", None))))
    ua = SipUserAgent(config, TransportConfig("tcp", (Listener("10.0.0.1", 5070),)))
    tap = Tapped(ua.core, ua.transport.config)
    tap.sent = []
    ua.transport = tap
    wait_listening(uas, 5060, "10.0.0.3")
    thread = NodeThread(ua_ns.ns, ua.serve)
    try:
        target = Uri("sip", "10.0.0.3", "meeting", port=5060, params=(("transport", "tcp"),))
        call, answer = thread.call(ua.invite(target, b"v=0\r\n"))
        assert b"applicationsharing" in answer
        assert call.dialog is not None and [u.host for u in call.dialog.route_set] == ["10.0.0.2"]
        assert b"viewer" in thread.call(ua.reinvite(call, b"v=0\r\n"))
        thread.call(ua.bye(call))
        out, _ = callee.communicate(timeout=30)
    finally:
        if callee.poll() is None:
            callee.kill()
            callee.wait()
        thread.stop()
        stop_process(proc)
    assert callee.returncode == 0, out.decode(errors="replace")[-2000:]
    methods = [m.split(b" ", 1)[0] for m in tap.sent]
    assert methods == [b"INVITE", b"ACK", b"INVITE", b"ACK", b"BYE"]
    for data in tap.sent:
        assert sipmessage.Message.parse(data).headers.get("Call-ID") == call.call_id
