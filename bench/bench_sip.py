"""INVITE transactions per second through one proxy hop: our SipProxy against kamailio, in the
same namespaces, measured in the same run (sipp's built-in uac/uas scenarios over TCP).

    .venv/bin/python -m bench.bench_sip [calls]

Prints calls per second for each proxy and the ratio ours / kamailio. Bounded: at most
``calls`` calls per proxy and a 60 s sipp timeout.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab.net.sip_proxy import SipProxy
from lab.net.sip_transport import Listener, TransportConfig
from lab.proto.sip.core import Target
from lab.proto.sip.proxy import ProxyConfig, Side, StaticRoute
from tests.interop.kamailio_run import start_kamailio, stop, wait_listening
from tests.nethelp import NetBench, Node
from tests.netns.siplab import NodeThread


def run_calls(uac: Node, uas: Node, proxy: str, calls: int) -> float:
    callee = uas.popen("sipp", "-sn", "uas", "-t", "t1", "-nostdin", "-i", "10.0.0.3",
                       "-p", "5060", "-timeout", "60", stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    try:
        wait_listening(uas, "10.0.0.3:5060")
        start = time.monotonic()
        res = uac.exec("sipp", proxy, "-sn", "uac", "-t", "t1", "-nostdin", "-s", "bench",
                       "-i", "10.0.0.1", "-p", "5070", "-m", str(calls), "-r", "2000",
                       "-l", "100", "-timeout", "60", "-timeout_error", check=False)
        elapsed = time.monotonic() - start
    finally:
        callee.kill()
        callee.wait()
    if res.returncode != 0:
        raise SystemExit(f"sipp through {proxy} failed:\n{res.stdout[-1500:]}")
    return calls / elapsed


def main(calls: int) -> None:
    bench = NetBench()
    try:
        uac, prx, uas = bench.node("uac"), bench.node("proxy"), bench.node("uas")
        bench.segment("lan", [(uac, "eth0", "10.0.0.1/24"), (prx, "eth0", "10.0.0.2/24"),
                              (uas, "eth0", "10.0.0.3/24")])
        config = ProxyConfig("bench", sides=(Side("lan", "10.0.0.2", 5060, "tcp"),),
                             routes=(StaticRoute(("10.0.0.3", "10.0.0.2"), "lan",
                                                 Target("tcp", "10.0.0.3", 5060)),))
        ours = SipProxy(config, TransportConfig("tcp", (Listener("10.0.0.2", 5060, "lan"),)))
        thread = NodeThread(prx.ns, ours.serve)
        try:
            wait_listening(prx, "10.0.0.2:5060")
            ours_rate = run_calls(uac, uas, "10.0.0.2:5060", calls)
        finally:
            thread.stop()
        with tempfile.TemporaryDirectory() as tmp:
            kam = start_kamailio(prx, Path(tmp), "10.0.0.2:5060", "10.0.0.3:5060")
            try:
                kam_rate = run_calls(uac, uas, "10.0.0.2:5060", calls)
            finally:
                stop(kam)
    finally:
        bench.close()
    print(f"calls (INVITE+ACK+BYE) through one hop, TCP, {calls} calls each")
    print(f"  uclab SipProxy : {ours_rate:8.1f} calls/s")
    print(f"  kamailio 5.6   : {kam_rate:8.1f} calls/s")
    print(f"  ratio uclab/kamailio: {ours_rate / kam_rate:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
