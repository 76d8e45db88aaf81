"""The kernel layer's primitives on their own: namespaces made like `ip netns add`, processes
found by namespace inode, nft checks that quote nft."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.base.errors import LabError
from lab.kernel import namespaces, nftables, processes
from tests.nethelp import NetBench


def test_create_netns_is_ip_netns_compatible_and_never_takes_over() -> None:
    name = f"t{os.getpid() % 100000}k-ns"

    def make() -> str:
        namespaces.create_netns(name)
        return Path("/proc/thread-self/ns/net").readlink().name

    try:
        inside = namespaces.run_in_thread(make)
        assert namespaces.netns_exists(name)
        ident = namespaces.netns_id(name)
        assert ident is not None and inside == f"net:[{ident[1]}]"
        out = subprocess.run(["ip", "netns", "exec", name, "ip", "-o", "link"],
                             capture_output=True, text=True, check=True).stdout
        assert out.count("\n") == 1 and ": lo:" in out  # a fresh, empty namespace
        with pytest.raises(LabError, match="already exists"):
            namespaces.run_in_thread(lambda: namespaces.create_netns(name))
        assert namespaces.netns_id(name) == ident  # untouched
    finally:
        assert namespaces.delete_netns(name)
    assert not namespaces.netns_exists(name) and not namespaces.delete_netns(name)


def test_spawned_process_is_found_by_namespace_and_stopped(
        netbench: Callable[[], NetBench], tmp_path: Path) -> None:
    node = netbench().node("spawn")
    log = tmp_path / "p.log"
    proc = processes.spawn_in_netns(node.ns, ["sh", "-c", "ip -o link; exec sleep 30"], log)
    pid, start = proc.pid, proc.start
    assert processes.alive(proc)
    deadline = time.monotonic() + 5
    while processes.cmdline(pid) != ["sleep", "30"] or ": lo:" not in log.read_text():
        assert time.monotonic() < deadline, "the shell did not become sleep"
        time.sleep(0.02)
    # `ip` may still be exiting for a moment; then only the sleep is in the namespace
    while processes.pids_in_namespaces([node.ns]) != {node.ns: [pid]}:
        assert time.monotonic() < deadline, processes.pids_in_namespaces([node.ns])
        time.sleep(0.02)
    stopped = processes.kill_netns_processes([node.ns])
    assert stopped == [proc] and not processes.alive(proc)
    # a recycled pid with another start time is never mistaken for it
    assert processes.stop_processes([processes.ProcessId(pid, start + 1)]) == []


def test_nft_check_quotes_nft_and_its_line(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.nft", tmp_path / "bad.nft"
    good.write_text("table inet t {\n chain c {\n  type filter hook forward priority 0;\n }\n}\n")
    bad.write_text("table inet t {\n chain c {\n  tcp dport 22 dorp\n }\n}\n")
    failures = nftables.check_files([good, bad])
    assert [f.path for f in failures] == [bad]
    assert failures[0].line == 3 and f"{bad}:3:" in failures[0].message
    assert "Error:" in failures[0].message


def test_nft_load_and_list_in_a_namespace(netbench: Callable[[], NetBench]) -> None:
    node = netbench().node("nft")
    nftables.load([nftables.NftJob(node.ns, text="table ip t {\n chain c {\n"
                                       "  type filter hook output priority 0;\n"
                                       "  counter comment \"all\"\n }\n}\n")])
    listed = nftables.list_rulesets([node.ns])[node.ns]
    assert 'counter packets 0 bytes 0 comment "all"' in listed
    with pytest.raises(LabError, match="nft refused"):
        nftables.load([nftables.NftJob(node.ns, text="table ip t { chain c { bogus } }\n")])
