"""The traversal zone's keep-alive on real sockets: Expressway-C pings Expressway-E:7001 (RFC 5626
double CRLF) and E pongs; when an nft rule in C's namespace silently drops the path, TCP notices
nothing, but the pongs stop: C aborts the connection, backs off, and opens a new one once the
path is back, which E takes as the zone's new flow."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from lab.aio.sip_proxy import SipProxy
from lab.aio.sip_transport import Listener, TransportConfig
from lab.kernel.nftables import NftJob, load
from tests import sipseed as seed
from tests.nethelp import NetBench, wait_listening, wait_until
from tests.netns.siplab import NodeThread

DROP = f"""table inet uclabtest {{
    chain out {{
        type filter hook output priority 0; ip daddr {seed.EXPE_INT} tcp dport 7001 drop;
    }}
    chain in {{
        type filter hook input priority 0; ip saddr {seed.EXPE_INT} tcp sport 7001 drop;
    }}
}}
"""


def test_silent_drop_is_noticed_by_the_pongs_and_the_zone_reconnects(
        netbench: Callable[[], NetBench], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lab.aio.sip_transport")
    bench = netbench()
    expe, expc = bench.node("expe"), bench.node("expc")
    bench.segment("in", [(expe, "eth1", f"{seed.EXPE_INT}/24"),
                         (expc, "eth0", f"{seed.EXPC}/24")])
    e = SipProxy(seed.expressway_e("tcp"), TransportConfig("tcp", (
        Listener(seed.EXPE_INT, seed.TRAVERSAL_PORT, "internal", zone="traversal"),)))
    c = SipProxy(seed.expressway_c("tcp"), TransportConfig(
        "tcp", (Listener(seed.EXPC, 5060, "inside"),), seed.EXPC, seed.EXPRESSWAY_SOURCE_PORTS,
        keepalive=0.2, pong_timeout=0.5), traversal=(seed.EXPE_INT, seed.TRAVERSAL_PORT),
        traversal_side="inside")

    def zone_flow() -> int | None:
        flow = e.core.zone_flows.get("traversal")
        return flow.id if flow is not None else None

    def said(text: str) -> int:
        return sum(text in r.getMessage() for r in caplog.records)

    threads = [NodeThread(expe.ns, e.serve)]
    try:
        wait_listening(expe, seed.TRAVERSAL_PORT, seed.EXPE_INT)
        threads.append(NodeThread(expc.ns, c.serve))
        wait_until(lambda: zone_flow() is not None, "the zone comes up", within=5.0)
        first = zone_flow()
        time.sleep(1.0)  # five pings, five pongs: the flow stays
        assert zone_flow() == first and said("no pong") == 0 and said(" up to ") == 1
        load([NftJob(expc.ns, text=DROP)])
        try:
            # noticed by the pong timer (0.5 s), not by TCP giving up (minutes)
            wait_until(lambda: said("no pong within 0.5 s") == 1, "C notices the dead flow",
                       within=5.0)
            wait_until(lambda: said("lost; reconnecting in 1.0 s") == 1,
                       "C counts the flow lost", within=5.0)
        finally:
            load([NftJob(expc.ns, text="delete table inet uclabtest\n")])
        wait_until(lambda: zone_flow() not in (None, first), "the zone reconnects", within=8.0)
        assert said(" up to ") == 2
        time.sleep(0.5)  # the new flow is pinged and answered in turn
        assert said("no pong") == 1
    finally:
        for t in threads:
            t.stop()
    assert [t.error for t in threads] == [None, None]
