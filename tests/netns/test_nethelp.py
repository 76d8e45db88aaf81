"""The test helper itself: namespaces joined by veth and by a bridge talk; nothing is left."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.kernel.setns import run_in_netns
from tests.conftest import require_tool
from tests.nethelp import NetBench, sh, stop_process, tcpdump, wait_listening


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


def test_listener_capture_ruleset_and_stop_helpers(netbench: Callable[[], NetBench],
                                                   tmp_path: Path) -> None:
    require_tool("tcpdump")
    bench = netbench()
    a, b = bench.node("a"), bench.node("b")
    bench.segment("ab", [(a, "eth0", "10.99.0.1/24"), (b, "eth0", "10.99.0.2/24")])
    with pytest.raises(TimeoutError, match=r"a listener on 10\.99\.0\.2:5000"):
        wait_listening(b, 5000, "10.99.0.2", timeout=0.2)

    def serve() -> socket.socket:
        s = socket.socket()
        s.bind(("10.99.0.2", 5000))
        s.listen()
        return s

    with run_in_netns(b.ns, serve):
        wait_listening(b, 5000, "10.99.0.2")
        wait_listening(b, 5000)
        with tcpdump(a, "eth0", tmp_path / "ab.pcap", "tcp", settle=0.0) as pcap:
            run_in_netns(a.ns, lambda: socket.create_connection(("10.99.0.2", 5000), 2).close())
        assert b"\x13\x88" in pcap.read_bytes()  # TCP port 5000, in the file tcpdump flushed
        b.nft("table inet t {\n chain i {\n  type filter hook input priority 0;\n"
              "  tcp dport 5000 drop\n }\n}\n")
        with pytest.raises(OSError):
            run_in_netns(a.ns, lambda: socket.create_connection(("10.99.0.2", 5000), 0.3))
        with pytest.raises(RuntimeError, match="nft in"):
            b.nft("this is not nft\n")
    sleeper = b.popen("timeout", "30", "sleep", "30")
    stop_process(sleeper, timeout=5)
    assert sleeper.returncode is not None and sleeper.returncode != 0
