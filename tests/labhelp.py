"""Helpers for the lab's namespace tests: a uniquely named lab, real sockets inside nodes.

    with running_lab() as ctx:                      # the default topology, removed afterwards
        srv = listen(ctx, "sfb-edge", "10.149.4.10", 443)
        local = connect(ctx, "sfb-client", ("10.149.4.10", 443), src=("192.168.251.128", 17676))
        assert accepted_peer(srv) == ("10.149.4.201", 65417)
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from lab import topology
from lab.base.errors import LabError
from lab.kernel import nftables
from lab.kernel.setns import run_in_netns
from lab.lifecycle import build, teardown
from lab.lifecycle.context import BuildContext, Step
from lab.lifecycle.status import parse_counters

_counter = itertools.count()


def lab_name() -> str:
    """A lab name unique to this test process (lab names: 1-12 of a-z 0-9)."""
    return f"t{os.getpid() % 100000}l{next(_counter)}"


@contextlib.contextmanager
def running_lab(name: str | None = None, *, policies: dict[str, Path] | None = None,
                steps: list[Step] | None = None) -> Iterator[BuildContext]:
    lab = name or lab_name()
    # the network only (no daemons): these tests listen on the daemons' ports themselves
    ctx = build.up(topology.load(), lab, policies=policies,
                   steps=build.NETWORK_STEPS if steps is None else steps)
    try:
        yield ctx
    finally:
        with contextlib.suppress(LabError):
            teardown.down(lab)


def listen(ctx: BuildContext, node: str, host: str, port: int) -> socket.socket:
    """A TCP listener inside ``node``."""

    def make() -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(8)
        s.settimeout(3)
        return s

    return run_in_netns(ctx.ns(node), make)


def connect(ctx: BuildContext, node: str, dst: tuple[str, int], *,
            src: tuple[str, int] | None = None, timeout: float = 2.0) -> tuple[str, int]:
    """Open a TCP connection from inside ``node``, send a byte, close; the local address.
    Raises the OSError of a failed connect (refused, unreachable, timeout)."""

    def run() -> tuple[str, int]:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.settimeout(timeout)
            if src is not None:
                s.bind(src)
            s.connect(dst)
            s.sendall(b"x")
            host, port = s.getsockname()
            return str(host), int(port)

    return run_in_netns(ctx.ns(node), run, timeout=timeout + 5)


def accepted_peer(srv: socket.socket) -> tuple[str, int]:
    """Accept one connection on ``srv`` and return the address it came from."""
    conn, peer = srv.accept()
    with conn:
        conn.settimeout(2)
        assert conn.recv(1) == b"x"
    return str(peer[0]), int(peer[1])


def counters(ctx: BuildContext, node: str) -> dict[str, int]:
    """``{rule comment: packets}`` of the nftables ruleset in ``node``."""
    ns = ctx.ns(node)
    text = nftables.list_rulesets([ns])[ns]
    return {r.comment: r.packets for r in parse_counters(text)}


def lab_namespaces(lab: str) -> list[str]:
    """Every name in /run/netns that starts with ``<lab>-``: only for asserting that none is
    left (never used to delete anything)."""
    netns = Path("/run/netns")
    if not netns.is_dir():
        return []
    return sorted(p.name for p in netns.iterdir() if p.name.startswith(f"{lab}-"))
