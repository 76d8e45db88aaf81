"""Helpers for the TURN namespace and interop tests.

The TURN test topology mirrors flow.md (Expressway-E between CMS and the Skype Edge):

    cli  10.48.54.230 --veth-- 10.48.54.229  srv  192.168.1.229 --veth-- 192.168.1.252  peer

Nothing routes between 10.48.54.0/24 and 192.168.1.0/24: only the TURN relay on ``srv`` joins
them. :func:`coturn` runs coturn's
``turnserver`` in a namespace, bounded in time and killed at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.nethelp import NetBench, Node, stop_process, wait_listening

ROOT = Path(__file__).resolve().parent.parent

SRV_IN, SRV_OUT = "10.48.54.229", "192.168.1.229"
CLI, PEER = "10.48.54.230", "192.168.1.252"
USER, PASSWORD, REALM = "cms", "s3cret", "TANDBERG"


@dataclass
class TurnNet:
    bench: NetBench
    srv: Node
    cli: Node
    peer: Node


def build_turn_net(bench: NetBench) -> TurnNet:
    srv, cli, peer = bench.node("srv"), bench.node("cli"), bench.node("peer")
    bench.segment("in", [(cli, "eth0", f"{CLI}/24"), (srv, "eth0", f"{SRV_IN}/24")])
    bench.segment("out", [(srv, "eth1", f"{SRV_OUT}/24"), (peer, "eth0", f"{PEER}/24")])
    return TurnNet(bench, srv, cli, peer)


@contextlib.contextmanager
def coturn(node: Node, log: Path, *extra: str, listen: str = SRV_IN, relay: str = SRV_OUT,
           port: int = 3478, min_port: int = 24000, max_port: int = 24099,
           lifetime_s: float = 120.0, nofile: int | None = None
           ) -> Iterator[subprocess.Popen[bytes]]:
    """coturn ``turnserver`` in ``node``'s namespace: no config file, no CLI, long-term
    credentials, explicit listening and relay IPs; killed at the end (and after ``lifetime_s``
    at the latest, by ``timeout``)."""
    limit = ["prlimit", f"--nofile={nofile}:{nofile}"] if nofile else []
    argv = [
        *limit, "timeout", "-s", "KILL", str(int(lifetime_s)),
        "turnserver", "-n", "--no-cli", "--lt-cred-mech", "--realm", REALM,
        "--user", f"{USER}:{PASSWORD}", "--listening-ip", listen, "--relay-ip", relay,
        "--listening-port", str(port), "--min-port", str(min_port), "--max-port", str(max_port),
        "--no-udp", "--no-tls", "--no-dtls", "--no-rfc5780", "--no-stun-backward-compatibility",
        "--log-file", "stdout", "--simple-log", "--pidfile", str(log.with_suffix(".pid")),
        "--fingerprint", "-v", *extra,
    ]
    with log.open("wb") as out:
        proc = node.popen(*argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_listening(node, port)
        yield proc
    finally:
        stop_process(proc)


@contextlib.contextmanager
def uclab_turn_server(node: Node, log: Path, *, min_port: int = 24000, max_port: int = 24099,
                      lifetime_s: float = 120.0, verbose: bool = False, udp: bool = False,
                      extra: Sequence[str] = (), nofile: int | None = None
                      ) -> Iterator[subprocess.Popen[bytes]]:
    """Our standalone server, ``uclab turn-server`` (``python -m lab``), in ``node``'s namespace
    on the same addresses and credentials as :func:`coturn`, with ``extra`` arguments and at
    most ``nofile`` descriptors if given (``prlimit``); stopped at the end (and after
    ``lifetime_s`` at the latest, by ``timeout``)."""
    limit = ["prlimit", f"--nofile={nofile}:{nofile}"] if nofile else []
    argv = [
        *limit, "timeout", "-s", "KILL", str(int(lifetime_s)), sys.executable, "-m", "lab",
        *(["-v"] if verbose else []), "turn-server", "--listen", f"{SRV_IN}:3478",
        "--relay-ip", SRV_OUT, "--min-port", str(min_port), "--max-port", str(max_port),
        "--realm", REALM, "--user", f"{USER}:{PASSWORD}",
        *(["--listen-udp", f"{SRV_IN}:3478"] if udp else []), *extra,
    ]
    with log.open("wb") as out:
        proc = node.popen(*argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_listening(node, 3478)
        yield proc
    finally:
        stop_process(proc, timeout=10)


async def echo_server(host: str, port: int) -> asyncio.Server:
    """A TCP echo server (the peer of the Connect tests)."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return await asyncio.start_server(echo, sock=sock)


async def read_exactly(reader: asyncio.StreamReader, n: int) -> bytes:
    async with asyncio.timeout(10):
        return await reader.readexactly(n)
