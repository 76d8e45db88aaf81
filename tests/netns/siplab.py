"""The seed's SIP path in throwaway namespaces: client, Edge, Expressway-E, Expressway-C, CMS,
each node's asyncio stack running in a thread that entered its namespace."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from lab.aio.sip_proxy import SipProxy
from lab.aio.sip_transport import Listener, TransportConfig
from lab.aio.sip_ua import Answer, Reject, SipUserAgent
from lab.aio.tls import client_context, server_context
from lab.base import pki as labpki
from lab.proto.sip.ua import Call
from tests import sipseed as seed
from tests.nethelp import NetBench, Node, NsLoop

T = TypeVar("T")


class NodeThread:
    """Run ``main()`` on an asyncio loop in a thread inside namespace ``ns`` (a
    :class:`~tests.nethelp.NsLoop`) until :meth:`stop`; ``error`` is what ``main`` raised, if
    anything but its cancellation."""

    def __init__(self, ns: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.ns = ns
        self.error: BaseException | None = None
        self._nsloop = NsLoop(ns)
        self.loop = self._nsloop.loop
        started = threading.Event()

        async def runner() -> None:
            started.set()  # main() runs on to its first await before any later call() starts
            try:
                await main()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # reported by stop()
                self.error = exc

        self._nsloop.start(runner())
        started.wait(5)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return self._nsloop.run(coro, timeout)

    def stop(self) -> None:
        """Cancel ``main`` (and whatever else runs on the loop), wait for it, end the thread."""
        self._nsloop.close()


def build_namespaces(bench: NetBench) -> dict[str, Node]:
    n = {name: bench.node(name) for name in ("client", "edge", "expe", "expc", "cms")}
    bench.segment("lan", [(n["client"], "eth0", "192.168.251.128/24"),
                          (n["edge"], "eth0", "10.149.4.10/24")])
    n["edge"].exec("ip", "addr", "add", "192.168.251.1/24", "dev", "eth0")
    bench.route(n["client"], "10.149.4.0/24", "192.168.251.1")
    bench.segment("net", [(n["edge"], "eth1", "192.168.1.252/24"),
                          (n["expe"], "eth0", "192.168.1.229/24")])
    bench.segment("in", [(n["expe"], "eth1", "10.48.54.229/24"),
                         (n["expc"], "eth0", "10.48.54.227/24"),
                         (n["cms"], "eth0", "10.48.54.230/24")])
    return n


def make_pki(folder: Path) -> labpki.LabPki:
    p = labpki.create_ca(folder)
    for name, addrs in {"sfb-client": [seed.CLIENT], "sfb-edge": [seed.EDGE_INT, seed.EDGE_EXT],
                        "expressway-e": [seed.EXPE_EXT, seed.EXPE_INT],
                        "expressway-c": [seed.EXPC], "cms": [seed.CMS]}.items():
        labpki.issue(p, name, addrs)
    return p


def transport(p: labpki.LabPki | None, name: str, kind: str, listeners: tuple[Listener, ...],
              local: str | None = None, ports: tuple[int, int] | None = None) -> TransportConfig:
    node = p.node(name) if p else None
    return TransportConfig(
        kind, listeners, local, ports,
        server_ssl=server_context(p, node) if p and node and kind == "tls" else None,
        client_ssl=client_context(p, node) if p and node and kind == "tls" else None)


class SeedPath:
    """The five stacks; ``on_invite`` is CMS's answer callback."""

    def __init__(self, ns: dict[str, Node], p: labpki.LabPki | None, kind: str,
                 on_invite: Callable[[Call, bytes], Coroutine[Any, Any, Answer | Reject]]):
        port = seed.SIP_PORT[kind]
        self.edge = SipProxy(seed.edge(kind), transport(p, "sfb-edge", kind, (
            Listener(seed.EDGE_INT, port, "internal"), Listener(seed.EDGE_EXT, port, "external"))))
        self.expe = SipProxy(seed.expressway_e(kind), transport(p, "expressway-e", kind, (
            Listener(seed.EXPE_EXT, port, "external"),
            Listener(seed.EXPE_INT, seed.TRAVERSAL_PORT, "internal", zone="traversal")),
            seed.EXPE_EXT, seed.EXPRESSWAY_SOURCE_PORTS))
        self.expc = SipProxy(seed.expressway_c(kind), transport(p, "expressway-c", kind, (
            Listener(seed.EXPC, port, "inside"),), seed.EXPC, seed.EXPRESSWAY_SOURCE_PORTS),
            traversal=(seed.EXPE_INT, seed.TRAVERSAL_PORT), traversal_side="inside")
        self.cms = SipUserAgent(seed.cms(kind), transport(p, "cms", kind, (
            Listener(seed.CMS, port),)), on_invite)
        self.client = SipUserAgent(seed.sfb_client(kind), transport(p, "sfb-client", kind, ()))
        self.threads = [NodeThread(ns["edge"].ns, self.edge.serve),
                        NodeThread(ns["expe"].ns, self.expe.serve),
                        NodeThread(ns["expc"].ns, self.expc.serve),
                        NodeThread(ns["cms"].ns, self.cms.serve),
                        NodeThread(ns["client"].ns, self.client.serve)]
        self.client_thread = self.threads[-1]

    def stop(self) -> list[BaseException]:
        for t in self.threads:
            t.stop()
        return [t.error for t in self.threads if t.error is not None]
