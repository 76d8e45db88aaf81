"""Throwaway namespaces for tests of the protocol stacks, before and besides the full lab.

``NetBench`` builds a few uniquely named namespaces joined by veth pairs (two ends) or by a bridge
living in a namespace of its own (three or more ends), assigns addresses and routes, and removes
exactly what it made. Names carry the test process's pid so parallel runs never collide.

    def test_x(netbench):
        bench = netbench()
        srv = bench.node("srv"); cli = bench.node("cli")
        bench.segment("lan", [(srv, "eth0", "10.48.54.229/24"), (cli, "eth0", "10.48.54.230/24")])
        run_in_netns(cli.ns, lambda: ...)
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

_counter = itertools.count()


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


@dataclass
class Node:
    name: str
    ns: str

    def exec(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.ns, *argv, check=check)

    def popen(self, *argv: str, **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["ip", "netns", "exec", self.ns, *argv], **kwargs)  # type: ignore[call-overload, no-any-return]


@dataclass
class NetBench:
    prefix: str = field(default_factory=lambda: f"t{os.getpid() % 100000}x{next(_counter)}")
    namespaces: list[str] = field(default_factory=list)

    def _add_ns(self, name: str) -> str:
        ns = f"{self.prefix}-{name}"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def node(self, name: str) -> Node:
        return Node(name, self._add_ns(name))

    def segment(self, name: str, ends: Sequence[tuple[Node, str, str | None]]) -> None:
        """Join ``(node, ifname, "addr/len" or None)`` ends; a veth for two, a bridge for more."""
        if len(ends) == 2:
            (a, ai, _), (b, bi, _) = ends
            sh("ip", "-n", a.ns, "link", "add", ai, "type", "veth", "peer", "name", bi,
               "netns", b.ns)
        else:
            br = self._add_ns(f"br-{name}")
            sh("ip", "-n", br, "link", "add", "br0", "type", "bridge")
            sh("ip", "-n", br, "link", "set", "br0", "up")
            for i, (n, ifn, _addr) in enumerate(ends):
                port = f"p{i}"
                sh("ip", "-n", n.ns, "link", "add", ifn, "type", "veth", "peer", "name", port,
                   "netns", br)
                sh("ip", "-n", br, "link", "set", port, "master", "br0", "up")
        for n, ifn, addr in ends:
            if addr:
                sh("ip", "-n", n.ns, "addr", "add", addr, "dev", ifn)
            sh("ip", "-n", n.ns, "link", "set", ifn, "up")

    def route(self, node: Node, dest: str, via: str) -> None:
        sh("ip", "-n", node.ns, "route", "add", dest, "via", via)

    def forwarding(self, node: Node) -> None:
        node.exec("sysctl", "-qw", "net.ipv4.ip_forward=1")

    def close(self) -> None:
        for ns in reversed(self.namespaces):
            pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), 9)
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces.clear()
