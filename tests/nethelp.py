"""Throwaway namespaces for tests of the protocol stacks, before and besides the full lab.

``NetBench`` builds a few uniquely named namespaces joined by veth pairs (two ends) or by a bridge
living in a namespace of its own (three or more ends), assigns addresses and routes, and removes
exactly what it made. Names carry the test process's pid so parallel runs never collide.

    def test_x(netbench):
        bench = netbench()
        srv = bench.node("srv"); cli = bench.node("cli")
        bench.segment("lan", [(srv, "eth0", "10.48.54.229/24"), (cli, "eth0", "10.48.54.230/24")])
        run_in_netns(cli.ns, lambda: ...)

The few things every namespace test does with outside programs live here too, done one way:
:meth:`Node.nft` (a ruleset), :func:`wait_listening` (a TCP listener in a namespace),
:func:`wait_until` (a condition, polled), :func:`tcpdump` (a capture around a block, bounded in
time) and :func:`stop_process` (signal, wait, kill). :class:`NsLoop` runs an asyncio loop in a
thread that has entered a namespace, so sockets made by code running there live in it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lab.kernel.setns import enter_netns

T = TypeVar("T")

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

    def nft(self, rules: str) -> None:
        """Load an nftables ruleset (text) in this namespace."""
        proc = subprocess.run(["ip", "netns", "exec", self.ns, "nft", "-f", "-"], input=rules,
                              text=True, capture_output=True, check=False, timeout=10)
        if proc.returncode != 0:
            raise RuntimeError(f"nft in {self.ns}: {proc.stderr.strip()}")


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


def wait_until(cond: Callable[[], object], what: str, within: float = 10.0,
               step: float = 0.02) -> float:
    """Poll ``cond`` until it is true; the seconds it took. ``TimeoutError`` naming ``what``
    when it is still false after ``within`` seconds."""
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > within:
            raise TimeoutError(f"{what}: not within {within} s")
        time.sleep(step)
    return time.monotonic() - start


def wait_listening(node: Node, port: int, host: str | None = None,
                   timeout: float = 10.0) -> None:
    """Poll until something listens on TCP ``port`` (on ``host`` if given) in ``node``'s
    namespace."""
    where = ["src", f"{host}:{port}"] if host else ["sport", "=", f":{port}"]

    def listening() -> bool:
        return bool(node.exec("ss", "-Htln", *where, check=False).stdout.strip())

    wait_until(listening, f"a listener on {host or ''}:{port} in {node.ns}", within=timeout,
               step=0.05)


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM,
                 timeout: float = 5.0) -> None:
    """Send ``sig`` to ``proc`` if it still runs and reap it; SIGKILL if it has not ended
    within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def tcpdump(node: Node, iface: str, path: Path, *bpf: str, lifetime_s: int = 120,
            settle: float = 0.2) -> Iterator[Path]:
    """tcpdump on ``iface`` in ``node``'s namespace (optionally with a BPF filter such as
    ``"tcp"``) for the length of the block, and ``lifetime_s`` at most (coreutils ``timeout``
    stops it even if the test process dies). The block starts once tcpdump is listening; at
    its end, after ``settle`` seconds for the last packets, SIGINT makes tcpdump flush the file.
    """
    proc = node.popen("timeout", "-s", "INT", str(lifetime_s), "tcpdump", "-i", iface, "-w",
                      str(path), "-U", "--immediate-mode", "-s", "0", "-n", *bpf,
                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode(errors="replace")
        if "listening on" not in line:
            raise RuntimeError(f"tcpdump on {iface} in {node.ns} did not start: {line.strip()}")
        yield path
        time.sleep(settle)
    finally:
        stop_process(proc, signal.SIGINT, timeout=10)


class NsLoop:
    """An asyncio event loop in a thread inside network namespace ``ns``."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.error: BaseException | None = None

        def main() -> None:
            try:
                enter_netns(ns)
            except BaseException as exc:
                self.error = exc
                ready.set()
                return
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(ready.set)
            self.loop.run_forever()
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

        self.thread = threading.Thread(target=main, name=f"nsloop:{ns}", daemon=True)
        self.thread.start()
        ready.wait(10)
        if self.error is not None:
            raise self.error

    def submit(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Start ``coro`` on the loop; returns an asyncio future of the *calling* coroutine's loop
        (call it from a coroutine; from plain code use :meth:`start`)."""
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def start(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the loop; wait for it later with ``.result(timeout)``."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the loop and wait for its result from a plain thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        if not self.loop.is_closed():
            async def cancel_all() -> None:
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

            with contextlib.suppress(Exception):
                self.run(cancel_all(), timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@contextlib.contextmanager
def ns_loops(*namespaces: str) -> Iterator[list[NsLoop]]:
    loops = [NsLoop(ns) for ns in namespaces]
    try:
        yield loops
    finally:
        for lp in loops:
            lp.close()
