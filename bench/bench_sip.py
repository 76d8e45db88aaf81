"""INVITE transactions per second through one proxy hop: our SipProxy against kamailio, in the
same namespaces, measured in the same run (sipp's built-in ``uac``/``uas`` scenarios over TCP).

    .venv/bin/python -m bench.bench_sip [calls] [rounds]      # as root

sipp UAC (10.0.0.1) -> proxy (10.0.0.2:5060) -> sipp UAS (10.0.0.3:5060), on one bridge. Each
call is one INVITE transaction (INVITE, 100, 180, 200), the end-to-end ACK and one BYE
transaction, all through the proxy (both proxies Record-Route). ``rounds`` times each proxy,
alternating; the rate of a run is sipp's calls over sipp's own elapsed time (start to last
call), the best run of each proxy is kept. Prints every run, the best, and the ratio ours /
kamailio. Bounded: ``calls`` per run, at most 200 at once, sipp's ``-timeout 60``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/ helpers, when run as a script

from lab.aio.sip_proxy import SipProxy  # noqa: E402
from lab.aio.sip_transport import Listener, TransportConfig  # noqa: E402
from lab.proto.sip.core import Target  # noqa: E402
from lab.proto.sip.proxy import ProxyConfig, Side, StaticRoute  # noqa: E402
from tests.interop.kamailio_run import start_kamailio  # noqa: E402
from tests.nethelp import NetBench, Node, stop_process, wait_listening  # noqa: E402
from tests.netns.siplab import NodeThread  # noqa: E402

PROXY, UAS = "10.0.0.2:5060", "10.0.0.3:5060"
TIME_RE = re.compile(r"(Start|Current) Time\s+\|[^|]*?(\d+\.\d+)\s*\n")
DONE_RE = re.compile(r"Successful call\s+\|\s*\d+\s*\|\s*(\d+)")


def run_calls(uac: Node, uas: Node, calls: int, local_port: int) -> float:
    """One sipp run through whatever listens on PROXY; calls per second."""
    callee = uas.popen("sipp", "-sn", "uas", "-t", "t1", "-nostdin", "-i", "10.0.0.3",
                       "-p", "5060", "-timeout", "90", stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    try:
        wait_listening(uas, 5060, "10.0.0.3")
        res = uac.exec("sipp", PROXY, "-sn", "uac", "-t", "t1", "-nostdin", "-s", "bench",
                       "-i", "10.0.0.1", "-p", str(local_port), "-m", str(calls),
                       "-r", "20000", "-l", "200", "-timeout", "60", "-timeout_error",
                       check=False)
    finally:
        callee.kill()
        callee.wait()
    final = res.stdout[res.stdout.rfind("Statistics Screen"):]
    times = dict(TIME_RE.findall(final))
    done = DONE_RE.search(final)
    if res.returncode != 0 or done is None or int(done.group(1)) != calls or len(times) != 2:
        raise SystemExit(f"sipp through {PROXY} failed ({res.returncode}):\n{final[-1500:]}")
    return calls / (float(times["Current"]) - float(times["Start"]))


def ours(prx: Node, uac: Node, uas: Node, calls: int, port: int) -> float:
    config = ProxyConfig("bench", sides=(Side("lan", "10.0.0.2", 5060, "tcp"),),
                         routes=(StaticRoute(("10.0.0.3", "10.0.0.2"), "lan",
                                             Target("tcp", "10.0.0.3", 5060)),))
    proxy = SipProxy(config, TransportConfig("tcp", (Listener("10.0.0.2", 5060, "lan"),)))
    thread = NodeThread(prx.ns, proxy.serve)
    try:
        wait_listening(prx, 5060, "10.0.0.2")
        return run_calls(uac, uas, calls, port)
    finally:
        thread.stop()


def kamailio(prx: Node, uac: Node, uas: Node, calls: int, port: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_kamailio(prx, Path(tmp), PROXY, UAS)
        try:
            return run_calls(uac, uas, calls, port)
        finally:
            stop_process(proc)


def main(calls: int, rounds: int) -> None:
    bench = NetBench()
    runs: dict[str, list[float]] = {"uclab SipProxy": [], "kamailio 5.6": []}
    try:
        uac, prx, uas = bench.node("uac"), bench.node("proxy"), bench.node("uas")
        bench.segment("lan", [(uac, "eth0", "10.0.0.1/24"), (prx, "eth0", "10.0.0.2/24"),
                              (uas, "eth0", "10.0.0.3/24")])
        port = 5070  # a fresh caller port per run: no TIME_WAIT four-tuple to trip on
        for i in range(rounds):
            legs = [("uclab SipProxy", ours), ("kamailio 5.6", kamailio)]
            for name, leg in legs if i % 2 == 0 else legs[::-1]:
                runs[name].append(leg(prx, uac, uas, calls, port))
                port += 1
    finally:
        bench.close()
    print(f"INVITE transactions (calls: INVITE+ACK+BYE) through one proxy hop, TCP, "
          f"{calls} calls per run, {rounds} runs each")
    for name, rates in runs.items():
        shown = " ".join(f"{r:7.0f}" for r in rates)
        print(f"  {name:15} best {max(rates):7.0f} calls/s   runs: {shown}")
    ratio = max(runs["uclab SipProxy"]) / max(runs["kamailio 5.6"])
    print(f"  ratio uclab/kamailio: {ratio:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000,
         int(sys.argv[2]) if len(sys.argv) > 2 else 3)
