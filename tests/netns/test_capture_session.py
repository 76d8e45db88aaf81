"""Capturing a set of namespaces: one tcpdump per interface, listening when ``start()`` returns
(the first packet after it is in the file), stopped cleanly, merged with ``node:iface`` names;
nothing left running, even when starting fails half way."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.base.errors import LabError
from lab.capture import LabCapture, read_capture
from lab.kernel.setns import run_in_netns
from tests.conftest import require_tool
from tests.nethelp import NetBench, sh


def _tcpdumps(namespaces: list[str]) -> list[str]:
    pids = [p for ns in namespaces for p in sh("ip", "netns", "pids", ns).stdout.split()]
    names = []
    for pid in pids:
        try:
            names.append(Path(f"/proc/{pid}/comm").read_text().strip())
        except FileNotFoundError:
            continue
    return [n for n in names if n == "tcpdump"]


def _send(ns: str, payload: bytes) -> None:
    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(payload, ("10.99.0.2", 9))

    run_in_netns(ns, send, timeout=5)


def test_capture_sees_the_first_packet_and_names_interfaces(
        netbench: Callable[[], NetBench], tmp_path: Path) -> None:
    require_tool("tcpdump")
    bench = netbench()
    a, b, c = bench.node("a"), bench.node("b"), bench.node("c")
    bench.segment("ab", [(a, "eth0", "10.99.0.1/24"), (b, "eth0", "10.99.0.2/24")])
    bench.segment("bc", [(b, "eth1", "10.98.0.1/24"), (c, "eth0", "10.98.0.2/24")])
    cap = LabCapture(tmp_path / "parts", {"a": a.ns, "b": b.ns, "c": c.ns})
    cap.start()
    _send(a.ns, b"first packet after start")
    stats = cap.stop()
    assert _tcpdumps(bench.namespaces) == []
    assert sorted(s.name for s in stats) == ["a:eth0", "b:eth0", "b:eth1", "c:eth0"]
    by_name = {s.name: s for s in stats}
    assert by_name["a:eth0"].captured and by_name["a:eth0"].dropped == 0
    result = cap.merge(tmp_path / "all.pcapng", keylog=b"CLIENT_RANDOM 01 02\n")
    merged = read_capture(result.path)
    names = [i.name for i in merged.interfaces]
    assert sorted(names) == ["a:eth0", "b:eth0", "b:eth1", "c:eth0"]
    seen = {names[p.iface] for p in merged.packets if b"first packet after start" in p.data}
    assert seen == {"a:eth0", "b:eth0"}
    assert merged.tls_keylog == b"CLIENT_RANDOM 01 02\n"
    assert merged.interfaces[0].description.startswith("namespace ")


def test_a_failed_start_leaves_nothing_running(netbench: Callable[[], NetBench],
                                               tmp_path: Path) -> None:
    require_tool("tcpdump")
    bench = netbench()
    a, b = bench.node("a"), bench.node("b")
    bench.segment("ab", [(a, "eth0", "10.99.0.1/24"), (b, "eth0", "10.99.0.2/24")])
    cap = LabCapture(tmp_path, {"a": a.ns, "ghost": f"{bench.prefix}-ghost"})
    with pytest.raises(LabError, match="ghost"):
        cap.start()
    assert _tcpdumps(bench.namespaces) == []
    with pytest.raises(LabError, match="nothing was captured"):
        cap.merge(tmp_path / "x.pcapng")


def test_loopback_on_request_and_context_manager(netbench: Callable[[], NetBench],
                                                 tmp_path: Path) -> None:
    require_tool("tcpdump")
    bench = netbench()
    a = bench.node("a")
    with LabCapture(tmp_path, {"a": a.ns}, include_loopback=True) as cap:
        a.exec("ping", "-c", "1", "-W", "1", "127.0.0.1")
    assert [p.name for p in cap.parts] == ["a:lo"]
    merged = read_capture(cap.merge(tmp_path / "lo.pcapng").path)
    assert merged.interfaces[0].linktype == 1 and len(merged.packets) >= 2
    # tshark, the independent dissector, reads the merged file and its interface names
    names = subprocess.run(["tshark", "-r", str(tmp_path / "lo.pcapng"), "-T", "fields", "-e",
                            "frame.interface_name"], capture_output=True, text=True,
                           timeout=60, check=True).stdout.split()
    assert set(names) == {"a:lo"}
