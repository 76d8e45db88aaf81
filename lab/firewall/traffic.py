"""Traffic for a firewall check without the screen share: one real TCP connection attempt per
connection each required flow opens, and the probes. Everything is sent by kernel sockets made
inside the lab's namespaces (threads that entered them); bounded in count and time.

The required flows are attempted in rounds: every flow's first connection at once, then the
second ones (F5's ConnectionBind connection) while the first ones stay open, as in the call,
so that a connection limit on 3478 meets two live connections. Listeners are opened at each
destination (the kernel completes handshakes without ``accept``). A connection that does not
complete within ``timeout`` is abandoned: the firewall's verdict comes from the trace, not from
whether something answered.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from lab.base.errors import LabError
from lab.base.names import namespace
from lab.firewall.flows import FlowSpec, Probe
from lab.kernel import links
from lab.kernel.setns import run_in_netns
from lab.topology import Topology

#: Source ports of flow.md §2 for the flows whose port the seed shows (others: the first port
#: of the flow's source range, or an ephemeral port when ports.md says "any port").
SEED_SOURCE_PORTS: dict[str, tuple[int, ...]] = {
    "F5": (33347, 33348),  # CMS TURN control and ConnectionBind connections
    "F6": (53577,),  # the Edge's relayed address
    "F7": (17676,),  # the client's TURN control connection (NAT -> 65417)
}


@dataclass(frozen=True)
class Attempt:
    flow: str
    label: str
    node: str
    src: tuple[str, int]  # port 0: ephemeral
    dst_node: str
    dst: tuple[str, int]


@dataclass(frozen=True)
class AttemptResult:
    attempt: Attempt
    local: tuple[str, int] | None
    connected: bool
    error: str | None = None


def node_of(topo: Topology, address: IPv4Address) -> str:
    for n in topo.nodes:
        if address in n.addresses:
            return n.name
    raise LabError(f"no node of {topo.name} has the address {address}")


def plan(topo: Topology, specs: Iterable[FlowSpec], *, spare: bool = False
         ) -> list[list[Attempt]]:
    """The attempts, in rounds: round k holds the k-th connection of every flow. ``spare``:
    the daemons of a share run (or ran) in the lab, so the seed's source ports are theirs;
    take the last ports of the flow's source range, or ephemeral ones."""
    rounds: list[list[Attempt]] = []
    for spec in specs:
        f = spec.flow
        seeds = () if spare else SEED_SOURCE_PORTS.get(f.id, ())
        for k, (label, _step) in enumerate(spec.connections):
            if k < len(seeds):
                sport = seeds[k]
            elif f.sport is None:
                sport = 0
            else:
                sport = f.sport.last - k if spare else f.sport.first + k
            attempt = Attempt(f.id, label, node_of(topo, f.src), (str(f.src), sport),
                              node_of(topo, f.dst), (str(f.dst), f.dport.first))
            while len(rounds) <= k:
                rounds.append([])
            rounds[k].append(attempt)
    return rounds


def _socket_in(ns: str, kind: int, bind: tuple[str, int]) -> socket.socket:
    def make() -> socket.socket:
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(bind)
            s.setblocking(False)
        except OSError:
            s.close()
            raise
        return s

    return run_in_netns(ns, make, timeout=5)


def _listeners(lab: str, rounds: Sequence[Sequence[Attempt]]) -> list[socket.socket]:
    """A listener at each destination, unless something listens there already (a daemon)."""
    out = []
    for dst_node, dst in sorted({(a.dst_node, a.dst) for r in rounds for a in r}):
        try:
            s = _socket_in(namespace(lab, dst_node), socket.SOCK_STREAM, dst)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        try:
            s.listen(16)
        except OSError as exc:
            s.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        out.append(s)
    return out


def _start_connect(s: socket.socket, dst: tuple[str, int]) -> str | None:
    code = s.connect_ex(dst)
    return None if code in (0, errno.EINPROGRESS) else errno.errorcode.get(code, str(code))


def _wait_connected(socks: dict[socket.socket, int], timeout: float) -> dict[int, str | None]:
    """Wait until each socket connected or failed, at most ``timeout``; index -> error."""
    result: dict[int, str | None] = {}
    with selectors.DefaultSelector() as sel:
        for s, i in socks.items():
            sel.register(s, selectors.EVENT_WRITE, i)
        deadline = time.monotonic() + timeout
        while len(result) < len(socks) and (left := deadline - time.monotonic()) > 0:
            for key, _ in sel.select(left):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                result[int(key.data)] = None if code == 0 else errno.errorcode.get(code, "?")
                sel.unregister(sock)
    for i in socks.values():
        result.setdefault(i, "no answer (timed out)")
    return result


def drive(lab: str, rounds: Sequence[Sequence[Attempt]], *, timeout: float = 0.8
          ) -> list[AttemptResult]:
    """Make every attempt, round after round, keeping earlier connections open until the end."""
    results: list[AttemptResult] = []
    with contextlib.ExitStack() as keep:
        for s in _listeners(lab, rounds):
            keep.callback(s.close)
        for attempts in rounds:
            socks: dict[socket.socket, int] = {}
            for i, a in enumerate(attempts):
                try:
                    s = _socket_in(namespace(lab, a.node), socket.SOCK_STREAM, a.src)
                except OSError as exc:  # its source port is taken
                    results.append(AttemptResult(a, None, False, exc.strerror))
                    continue
                keep.callback(s.close)
                error = _start_connect(s, a.dst)
                if error is None:
                    socks[s] = i
                else:
                    results.append(AttemptResult(a, None, False, error))
            done = _wait_connected(socks, timeout)
            for s, i in socks.items():
                host, port = s.getsockname()
                results.append(AttemptResult(attempts[i], (str(host), int(port)),
                                             done[i] is None, done[i]))
    return results


@dataclass(frozen=True)
class ProbeSent:
    probe: Probe
    sport: int | None
    error: str | None = None


@contextlib.contextmanager
def _routes(lab: str, probes: Sequence[Probe]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for node, dst, via in sorted({(p.node, p.dst, p.via) for p in probes if p.via},
                                     key=str):
            assert via is not None
            stack.enter_context(links.temporary_route(
                namespace(lab, node), IPv4Network(f"{dst}/32"), via))
        yield


def send_probes(lab: str, probes: Sequence[Probe], *, wait: float = 0.3) -> list[ProbeSent]:
    """Send every probe once (a TCP SYN by a connect, or one UDP datagram), wait ``wait``
    seconds for the firewalls to see them, close everything. Temporary routes for probes that
    need one are removed afterwards."""
    sent: list[ProbeSent] = []
    with _routes(lab, probes), contextlib.ExitStack() as keep:
        for p in probes:
            kind = socket.SOCK_STREAM if p.proto == "tcp" else socket.SOCK_DGRAM
            s = _socket_in(namespace(lab, p.node), kind, (str(p.src), p.sport or 0))
            keep.callback(s.close)
            dst = (str(p.dst), p.dport)
            if p.proto == "tcp":
                error = _start_connect(s, dst)
            else:
                try:
                    s.sendto(b"uclab firewall probe", dst)
                    error = None
                except OSError as exc:
                    error = exc.strerror
            sent.append(ProbeSent(p, int(s.getsockname()[1]), error))
        time.sleep(wait)
    return sent
