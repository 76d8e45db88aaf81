"""The test helper itself: namespaces joined by veth and by a bridge talk; nothing is left."""

from __future__ import annotations

import socket
from collections.abc import Callable

from lab.kernel import run_in_netns
from tests.nethelp import NetBench, sh


def _listen_and_connect(bench: NetBench) -> None:
    a, b, c = bench.node("a"), bench.node("b"), bench.node("c")
    bench.segment("ab", [(a, "eth0", "10.99.0.1/24"), (b, "eth0", "10.99.0.2/24")])
    bench.segment("bc", [(b, "eth1", "10.98.0.1/24"), (c, "eth0", "10.98.0.2/24"),
                         (a, "eth1", "10.98.0.3/24")])

    def serve() -> socket.socket:
        s = socket.socket()
        s.bind(("10.99.0.2", 5000))
        s.listen()
        return s

    srv = run_in_netns(b.ns, serve)

    def connect() -> str:
        with socket.create_connection(("10.99.0.2", 5000), timeout=2) as s:
            return str(s.getsockname()[0])

    assert run_in_netns(a.ns, connect) == "10.99.0.1"
    srv.close()
    c.exec("ping", "-c1", "-W1", "10.98.0.3")


def test_bench_builds_and_cleans(netbench: Callable[[], NetBench]) -> None:
    bench = netbench()
    _listen_and_connect(bench)
    names = list(bench.namespaces)
    bench.close()
    left = sh("ip", "netns", "list").stdout
    assert not any(n in left for n in names)
