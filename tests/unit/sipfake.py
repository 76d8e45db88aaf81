"""A fake network joining sans-I/O SIP cores: connections are pairs of flow ids, the bytes
really go through encode() -> SipStreamFramer -> parse(), and every hop is recorded."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from lab.proto.sip.core import Endpoint, Flow, SendSip
from lab.proto.sip.framing import Frame, SipStreamFramer
from lab.proto.sip.message import Message, Request, parse
from lab.proto.sip.proxy import ProxyCore
from lab.proto.sip.ua import UserAgentCore
from tests import sipseed as seed


@dataclass
class Node:
    name: str
    core: Endpoint
    listeners: dict[tuple[str, int], str]  # (host, port) -> side
    pool: dict[tuple[str, int], int] = field(default_factory=dict)  # opened connections


@dataclass
class Hop:
    src: str
    dst: str
    message: Message
    new_connection: bool

    def line(self) -> str:
        m = self.message
        what = f"{m.method}" if isinstance(m, Request) else f"{m.status} ({m.cseq.method})"
        return f"{self.src} -> {self.dst}: {what}"


class FakeNet:
    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = {n.name: n for n in nodes}
        self.ids = itertools.count(1)
        self.peer: dict[int, tuple[str, int]] = {}  # flow id -> (node, flow id at the other end)
        self.flows: dict[int, Flow] = {}
        self.log: list[Hop] = []

    def connect(self, src: str, host: str, port: int) -> int:
        dst = next(n for n in self.nodes.values() if (host, port) in n.listeners)
        a, b = next(self.ids), next(self.ids)
        self.peer[a], self.peer[b] = (dst.name, b), (src, a)
        self.flows[a] = Flow(a, "tls", "")
        self.flows[b] = Flow(b, "tls", dst.listeners[(host, port)])
        self.nodes[src].pool[(host, port)] = a
        return a

    def run(self, now: float = 0.0, limit: int = 200) -> None:
        for _ in range(limit):
            moved = False
            for node in self.nodes.values():
                for send in node.core.actions():
                    self._deliver(node, send, now)
                    moved = True
            if not moved:
                return
        raise AssertionError("messages still moving after the limit")

    def _deliver(self, node: Node, send: SendSip, now: float) -> None:
        t = send.target
        new = False
        if t.flow is not None:
            flow = t.flow
        else:
            key = (t.host, t.port)
            flow = node.pool.get(key) or 0
            if not flow:
                flow, new = self.connect(node.name, t.host, t.port), True
        dst_name, dst_flow = self.peer[flow]
        data = send.message.encode()
        frames = SipStreamFramer().feed(data)
        assert frames == [Frame(data)]
        msg = parse(data)
        self.log.append(Hop(node.name, dst_name, msg, new))
        dst = self.nodes[dst_name]
        dst.core.receive(msg, self.flows[dst_flow], now)


def seed_network() -> tuple[FakeNet, UserAgentCore, ProxyCore, ProxyCore, ProxyCore,
                            UserAgentCore]:
    client = UserAgentCore(seed.sfb_client())
    edge, expe, expc = (ProxyCore(seed.edge()), ProxyCore(seed.expressway_e()),
                        ProxyCore(seed.expressway_c()))
    cms = UserAgentCore(seed.cms())
    net = FakeNet([
        Node("sfb-client", client, {}),
        Node("sfb-edge", edge, {(seed.EDGE_INT, 5061): "internal",
                                (seed.EDGE_EXT, 5061): "external"}),
        Node("expressway-e", expe, {(seed.EXPE_EXT, 5061): "external",
                                    (seed.EXPE_INT, 7001): "internal"}),
        Node("expressway-c", expc, {(seed.EXPC, 5061): "inside"}),
        Node("cms", cms, {(seed.CMS, 5061): ""}),
    ])
    # the traversal zone: Expressway-C opens the connection, Expressway-E learns its zone flow
    flow = net.connect("expressway-c", seed.EXPE_INT, 7001)
    expe.flow_up("traversal", net.flows[net.peer[flow][1]])
    return net, client, edge, expe, expc, cms
