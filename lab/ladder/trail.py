"""One packet followed across the capture's taps: its sender's interface, the bridge port it
entered, the bridge port it left by, its receiver's interface; and where it stopped.

    taps = Taps(segments(capture))
    fate = taps.fate(segment, Paths(topology))
    fate.where        # "delivered", "link", "bridge", "sender" or "unknown"
    fate.text         # "left fw-outside at its port towards sfb-edge and never reached ..."

A lab capture has a tap on every interface (``node:iface``), a bridge's ports included
(``fw-inside:cms`` is fw-inside's port towards cms). A packet that left a bridge port and never
reached the interface at the other end of that veth was lost *on the link* (a cable cut: the
port has no carrier); one that entered a bridge and never left it was not forwarded *by the
bridge* (its policy dropped it, or it had no port with a carrier to send it by: the link's
earlier losses tell which; :mod:`lab.run.diagnose` says so).

A TCP segment counts as seen on a tap when that tap saw its last byte in a segment of the same
direction (a retransmission may be coalesced with more bytes; RFC 9293 §3.8.1); a segment
without payload (SYN, SYN+ACK, bare ACK) and a UDP datagram when that tap saw the same one.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address

from lab.ladder.packets import PROTO_TCP, Segment
from lab.topology import Node, Topology

MOD = 1 << 32
Direction = tuple[int, str, int, str, int]  # proto, src, sport, dst, dport
Identity = tuple[Direction, int, int, int, int, bytes]  # + seq, ack, flags, length, digest


@dataclass(frozen=True)
class Path:
    """The interfaces a packet between two nodes of one segment crosses, in order."""

    sender: str
    sender_tap: str
    bridge: str | None
    receiver: str
    receiver_tap: str

    @property
    def bridge_in(self) -> str:
        return f"{self.bridge}:{self.sender}"

    @property
    def bridge_out(self) -> str:
        return f"{self.bridge}:{self.receiver}"


class Paths:
    """The lab's nodes by address, and the bridged segments between them."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo

    def node(self, ip: str) -> Node | None:
        try:
            addr = IPv4Address(ip)
        except ValueError:
            return None
        return next((n for n in self.topo.nodes if addr in n.addresses), None)

    def name(self, ip: str) -> str:
        node = self.node(ip)
        return node.name if node is not None else ip

    def path(self, src: str, dst: str) -> Path | None:
        """The path when both addresses are on one segment, else None (a NAT or a router
        between them: the packet is another one on the far side)."""
        a, b = self.node(src), self.node(dst)
        if a is None or b is None:
            return None
        ia, ib = _iface_towards(a, dst), _iface_towards(b, src)
        if ia is None or ib is None:
            return None
        seg = next((s for s in self.topo.segments
                    if any(e.node == a.name and e.interface == ia for e in s.endpoints)), None)
        return Path(a.name, f"{a.name}:{ia}", seg.bridge if seg is not None else None,
                    b.name, f"{b.name}:{ib}")


def _iface_towards(node: Node, ip: str) -> str | None:
    addr = IPv4Address(ip)
    for i in node.interfaces:
        if i.address is not None and addr in i.address.network:
            return i.name
    return None


@dataclass(frozen=True)
class Fate:
    """Where one packet stopped. ``where``: delivered, link, bridge, sender, unknown."""

    where: str
    text: str
    path: Path | None = None


def direction(s: Segment) -> Direction:
    return (s.proto, s.src, s.sport, s.dst, s.dport)


def identity(s: Segment) -> Identity:
    digest = b"" if s.proto == PROTO_TCP else hashlib.blake2b(s.payload, digest_size=8).digest()
    return (direction(s), s.seq, s.ack, s.flags, len(s.payload), digest)


class Taps:
    """Which taps saw which packet, and when each saw it first."""

    def __init__(self, segs: Iterable[Segment]) -> None:
        self.copies: dict[Identity, dict[str, int]] = defaultdict(dict)  # tap -> copies
        self.first: dict[Identity, dict[str, int]] = defaultdict(dict)  # tap -> first ts
        self.spans: dict[tuple[Direction, str], list[tuple[int, int]]] = defaultdict(list)
        self.by_frame: dict[int, Segment] = {}
        self.sent: dict[Direction, dict[Identity, Segment]] = defaultdict(dict)  # first copies
        self.interfaces: set[str] = set()
        self.all = list(segs)
        for s in self.all:
            key = identity(s)
            self.copies[key][s.iface] = self.copies[key].get(s.iface, 0) + 1
            self.first[key].setdefault(s.iface, s.ts_ns)
            self.by_frame[s.frame] = s
            self.sent[direction(s)].setdefault(key, s)
            self.interfaces.add(s.iface)
            if s.proto == PROTO_TCP and s.payload:
                self.spans[(direction(s), s.iface)].append((s.seq, s.seq + len(s.payload)))

    def saw(self, s: Segment, tap: str) -> bool:
        """Whether ``tap`` saw segment ``s`` (its last byte, for a TCP payload)."""
        if tap in self.copies.get(identity(s), {}):
            return True
        if s.proto != PROTO_TCP or not s.payload:
            return False
        last = (s.seq + len(s.payload) - 1) % MOD
        return any((last - start) % MOD < (end - start) % MOD
                   for start, end in self.spans.get((direction(s), tap), ()))

    def order(self, s: Segment) -> list[str]:
        """The taps that saw ``s``, in the order it crossed them."""
        first = self.first.get(identity(s), {})
        return sorted(first, key=lambda tap: first[tap])

    def packets(self, d: Direction) -> list[Segment]:
        """One copy of each packet sent in direction ``d``, the first captured."""
        return list(self.sent.get(d, {}).values())

    def count(self, s: Segment, tap: str) -> int:
        """How many copies of ``s`` ``tap`` saw (retransmissions of a SYN are copies)."""
        return self.copies.get(identity(s), {}).get(tap, 0)

    def has_node(self, node: str) -> bool:
        return any(i.startswith(f"{node}:") for i in self.interfaces)

    def fate(self, s: Segment, paths: Paths | None) -> Fate:
        """Where ``s`` stopped on its way from its sender to its receiver."""
        path = paths.path(s.src, s.dst) if paths is not None else None
        order = self.order(s)
        if path is None or not self.has_node(path.receiver):
            return Fate("unknown", f"was seen only on {', '.join(order) or 'no tap'}")
        if self.saw(s, path.receiver_tap):
            return Fate("delivered", f"reached {path.receiver_tap}", path)
        if path.bridge is None:
            return Fate("link", f"left {path.sender_tap} and never reached "
                        f"{path.receiver_tap}: lost on the link between them", path)
        return self._bridged(s, path, order)

    def _bridged(self, s: Segment, path: Path, order: list[str]) -> Fate:
        a, b, bridge = path.sender, path.receiver, path.bridge
        if self.saw(s, path.bridge_out):
            return Fate("link", f"left {bridge} at its port towards {b} and never reached "
                        f"{path.receiver_tap}: lost on the link between {path.bridge_out} and "
                        f"{path.receiver_tap}", path)
        if self.saw(s, path.bridge_in):
            return Fate("bridge", f"entered {bridge} at its port towards {a} and never left "
                        f"by its port towards {b}", path)
        if self.saw(s, path.sender_tap):
            return Fate("sender", f"left {path.sender_tap} and never reached {bridge}: "
                        f"lost on the link between {path.sender_tap} and {path.bridge_in}", path)
        return Fate("unknown", f"was seen only on {', '.join(order) or 'no tap'}", path)


@dataclass(frozen=True)
class Wire:
    """What the diagnosis reads besides the ladder: the taps and, in a lab, its paths."""

    taps: Taps
    paths: Paths | None = None
