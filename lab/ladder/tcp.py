"""TCP connections and their byte streams, from segments captured on several interfaces.

A merged lab capture sees every packet once per interface it crosses (sender, firewall bridge
ports, receiver). Each *direction* of a connection (or of a UDP flow) is therefore read from one
interface: the one that saw it first, i.e. the sender's side; only what that tap missed (a
capture drop) is taken from the others (:func:`fill`). The other interfaces also count for
diagnosis: a SYN seen on ``fw-outside:p0`` but never on ``expressway-e:eth0`` was dropped by
that firewall.

Connections are told apart by the client's initial sequence number, so a 4-tuple reused after a
close becomes a new connection (RFC 9293 §3.4). Reassembly follows RFC 9293 §3.10.7.4: bytes
are delivered in sequence order, duplicates and overlaps are dropped, and a hole that is never
filled is reported as a gap (the decoder then resynchronises).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from lab.ladder.events import Connection, Endpoint
from lab.ladder.packets import PROTO_TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, Segment

Key4 = tuple[tuple[str, int], tuple[str, int]]
MOD = 1 << 32


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes that became contiguous in one direction with the arrival of frame ``frame``."""

    ts_ns: int
    frame: int
    data: bytes
    gap_before: bool = False  # bytes are missing before this chunk


@dataclass
class Stream:
    """One direction of a connection: who sends, on which interface it was read, its chunks."""

    src: Endpoint
    dst: Endpoint
    iface: str
    chunks: list[Chunk] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)  # every frame of this direction (filled)


@dataclass
class _Instance:
    key: Key4
    isn: int | None
    client: tuple[str, int] | None = None
    by_dir_iface: dict[tuple[tuple[str, int], str], list[Segment]] = field(
        default_factory=lambda: defaultdict(list))


@dataclass
class TcpResult:
    connections: list[Connection]
    streams: dict[tuple[int, str], Stream]  # (connection index, "up"/"down") -> stream
    udp: list[Segment]  # UDP datagrams, one copy each (the sender side's)


def _key(seg: Segment) -> Key4:
    a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
    return (a, b) if a <= b else (b, a)


def _instances(tcp: Iterable[Segment]) -> list[_Instance]:
    """Group segments by connection instance (4-tuple + client ISN)."""
    found: dict[tuple[Key4, int | None], _Instance] = {}
    current: dict[tuple[Key4, str], int | None] = {}
    order: list[_Instance] = []
    for seg in tcp:
        key = _key(seg)
        if seg.flags & TCP_SYN and not seg.flags & TCP_ACK:
            current[(key, seg.iface)] = seg.seq
        elif seg.flags & TCP_SYN and (key, seg.iface) not in current:
            current[(key, seg.iface)] = (seg.ack - 1) % MOD  # SYN-ACK seen without its SYN
        isn = current.get((key, seg.iface))
        inst = found.get((key, isn))
        if inst is None:
            inst = found[(key, isn)] = _Instance(key, isn)
            order.append(inst)
        if seg.flags & TCP_SYN and not seg.flags & TCP_ACK:
            inst.client = (seg.src, seg.sport)
        inst.by_dir_iface[((seg.src, seg.sport), seg.iface)].append(seg)
    return order


def _pick(inst: _Instance, sender: tuple[str, int]) -> tuple[str, list[Segment]] | None:
    """The interface that saw ``sender``'s segments first, and those segments, with the
    payload only other interfaces captured (:func:`fill`)."""
    best: tuple[int, str, list[Segment]] | None = None
    for (who, iface), segs in inst.by_dir_iface.items():
        if who == sender and (best is None or segs[0].ts_ns < best[0]):
            best = (segs[0].ts_ns, iface, segs)
    if best is None:
        return None
    others = [segs for (who, iface), segs in inst.by_dir_iface.items()
              if who == sender and iface != best[1]]
    return best[1], fill(best[2], others)


def fill(primary: list[Segment], others: Iterable[list[Segment]]) -> list[Segment]:
    """``primary`` (one direction as one interface saw it) and, from ``others`` (the same
    direction seen elsewhere on its path), each segment carrying bytes ``primary`` lacks.

    A tap can miss a packet the path carried (tcpdump's "dropped by kernel" on a loaded
    machine): its stream then has a hole, and a TLS record cut by it cannot be decrypted. The
    firewall's bridge ports and the receiver saw the same segment; it fills the hole. Sequence
    numbers are compared relative to ``primary``'s first segment (modulo 2**32)."""
    if not primary:
        return primary
    base = primary[0].seq

    def span(seg: Segment) -> tuple[int, int]:
        start = (seg.seq - base) % MOD
        start = start - MOD if start >= MOD // 2 else start
        return start, start + len(seg.payload)

    covered = _merged([span(s) for s in primary if s.payload])
    extra: list[Segment] = []
    for segs in others:
        for seg in segs:
            if seg.payload and not _within(covered, span(seg)):
                extra.append(seg)
                covered = _merged([*covered, span(seg)])
    if not extra:
        return primary
    return sorted(primary + extra, key=lambda seg: (seg.ts_ns, seg.frame))


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _within(covered: list[tuple[int, int]], span: tuple[int, int]) -> bool:
    i = bisect.bisect_right(covered, (span[0], MOD * 2)) - 1
    return i >= 0 and covered[i][0] <= span[0] and span[1] <= covered[i][1]


def _guess_client(inst: _Instance) -> tuple[str, int]:
    """The side that sent the SYN; without one, the side whose first payload is a TLS
    ClientHello or a SIP request (RFC 8446 §4.1.2, RFC 3261 §18.1.1: the client speaks
    first); failing that, the higher (ephemeral-looking) port."""
    a, b = inst.key
    if inst.client is not None:
        return inst.client
    for side in sorted((a, b), key=lambda s: _first_payload_ns(inst, s)):
        first = _first_payload(inst, side)
        if (first[:1] == b"\x16" and first[5:6] == b"\x01") or _SIP_REQUEST.match(first[:256]):
            return side
    return a if a[1] > b[1] else b


_SIP_REQUEST = re.compile(rb"^[A-Z]+ \S+ SIP/2\.0\r?\n")


def _first_payload(inst: _Instance, side: tuple[str, int]) -> bytes:
    segs = [s for (who, _i), ss in inst.by_dir_iface.items() if who == side for s in ss
            if s.payload]
    return min(segs, key=lambda s: s.ts_ns).payload if segs else b""


def _first_payload_ns(inst: _Instance, side: tuple[str, int]) -> int:
    times = [s.ts_ns for (who, _i), ss in inst.by_dir_iface.items() if who == side for s in ss
             if s.payload]
    return min(times, default=1 << 62)


def reassemble(segs: list[Segment], isn: int | None) -> list[Chunk]:
    """Deliver the payload of one direction in sequence order (RFC 9293 §3.10.7.4)."""
    chunks: list[Chunk] = []
    nxt: int | None = None if isn is None else (isn + 1) % MOD
    pending: dict[int, Segment] = {}
    gap = False
    for seg in segs:
        if seg.flags & TCP_SYN:
            nxt = (seg.seq + 1) % MOD
            continue
        if not seg.payload:
            continue
        if nxt is None:
            nxt = seg.seq
        pending[seg.seq] = seg
        nxt = _drain(pending, nxt, chunks, seg, gap)
        gap = False
    while pending:  # holes never filled: skip them, flag the gap
        here = nxt or 0
        first = min(pending, key=lambda s: (s - here) % MOD)
        nxt = _drain(pending, first, chunks, pending[first], True)
    return chunks


def _drain(pending: dict[int, Segment], nxt: int, chunks: list[Chunk], now: Segment,
           gap: bool) -> int:
    progressed = True
    while progressed:
        progressed = False
        for seq in list(pending):
            seg = pending[seq]
            start = (nxt - seq) % MOD  # how far into this segment the next byte is
            if start >= MOD // 2:  # segment lies wholly in the future
                continue
            del pending[seq]
            if start < len(seg.payload):
                data = seg.payload[start:]
                chunks.append(Chunk(now.ts_ns, now.frame, data, gap))
                gap = False
                nxt = (nxt + len(data)) % MOD
            progressed = True
    return nxt


def connections(segs: Iterable[Segment]) -> TcpResult:
    """Connections (ordered by first packet), their two streams, and de-duplicated UDP."""
    tcp: list[Segment] = []
    udp: list[Segment] = []
    for s in segs:
        (tcp if s.proto == PROTO_TCP else udp).append(s)
    result = TcpResult([], {}, _dedupe_udp(udp))
    for inst in _instances(tcp):
        _build(inst, result)
    result.connections.sort(key=lambda c: (c.syn_ns or _first_ns(result, c.index), c.index))
    renumber = {c.index: i for i, c in enumerate(result.connections)}
    for c in result.connections:
        c.index = renumber[c.index]
    result.streams = {(renumber[i], d): s for (i, d), s in result.streams.items()}
    return result


def _first_ns(result: TcpResult, index: int) -> int:
    times = [s.chunks[0].ts_ns for (i, _d), s in result.streams.items() if i == index and s.chunks]
    return min(times, default=0)


def _build(inst: _Instance, result: TcpResult) -> None:
    client = _guess_client(inst)
    server = inst.key[1] if client == inst.key[0] else inst.key[0]
    up, down = _pick(inst, client), _pick(inst, server)
    iface = (up or down or ("", []))[0]
    conn = Connection(len(result.connections), Endpoint(*client), Endpoint(*server), iface)
    _handshake(conn, inst, client, server)
    server_isn: int | None = None
    if down is not None:
        synack = next((s for s in down[1] if s.flags & TCP_SYN), None)
        server_isn = None if synack is None else synack.seq
    for name, picked, isn in (("up", up, inst.isn), ("down", down, server_isn)):
        if picked is None:
            continue
        sender, receiver = conn.client, conn.server
        if name == "down":
            sender, receiver = receiver, sender
        stream = Stream(sender, receiver, picked[0], reassemble(picked[1], isn),
                        [s.frame for s in picked[1]])
        conn.octets[name] = sum(len(c.data) for c in stream.chunks)
        result.streams[(conn.index, name)] = stream
        _closing(conn, picked[1], sender)
    result.connections.append(conn)


def _handshake(conn: Connection, inst: _Instance, client: tuple[str, int],
               server: tuple[str, int]) -> None:
    synacks: list[int] = []
    resets: list[int] = []
    for (who, iface), segs in inst.by_dir_iface.items():
        syns = [s for s in segs if s.flags & TCP_SYN and not s.flags & TCP_ACK]
        if who == client and syns and (conn.syn_ns is None or syns[0].ts_ns < conn.syn_ns):
            conn.syn_ns, conn.syn_frame = syns[0].ts_ns, syns[0].frame
            conn.syns = len(syns)
        if who != server:
            continue
        mine = [s.ts_ns for s in segs if s.flags & TCP_SYN and s.flags & TCP_ACK]
        rsts = [s.ts_ns for s in segs if s.flags & TCP_RST and not s.flags & TCP_SYN]
        if mine or rsts:
            conn.answered_on.append(iface)
        synacks += mine
        resets += rsts
    conn.answer_ns = min(synacks) if synacks else min(resets, default=None)
    conn.refused = not synacks and bool(resets) and conn.syn_ns is not None
    conn.answered_on.sort()
    conn.seen_on = sorted({iface for (_w, iface) in inst.by_dir_iface})
    client_talks = any(not s.flags & TCP_SYN for (w, _i), segs in inst.by_dir_iface.items()
                       if w == client for s in segs)
    server_talks = any((s.flags & TCP_SYN and s.flags & TCP_ACK) or s.payload
                       for (w, _i), segs in inst.by_dir_iface.items() if w == server for s in segs)
    conn.established = (server_talks and client_talks and not conn.refused) or (
        conn.syn_ns is None and server_talks)


def _closing(conn: Connection, segs: list[Segment], sender: Endpoint) -> None:
    for s in segs:
        if s.flags & (TCP_FIN | TCP_RST) and not s.flags & TCP_SYN:
            if conn.refused and s.flags & TCP_RST:
                return
            if conn.close_ns is None or s.ts_ns < conn.close_ns:
                conn.close_ns = s.ts_ns
                conn.close_kind = "RST" if s.flags & TCP_RST else "FIN"
                conn.closed_by = sender
            return


def _dedupe_udp(udp: list[Segment]) -> list[Segment]:
    """Keep each UDP direction from the interface that saw it first (in time, not file order:
    a merged capture may hold its interfaces one after the other), and the datagrams only
    another interface captured (as :func:`fill` does for TCP: the first tap dropped one).
    Identical datagrams (a STUN retransmission) count: another interface adds the copies it
    saw more often than the first one did."""
    first: dict[tuple[str, int, str, int], tuple[int, str]] = {}
    seen: dict[tuple[str, int, str, int], dict[str, list[Segment]]] = defaultdict(
        lambda: defaultdict(list))
    for s in udp:
        key = (s.src, s.sport, s.dst, s.dport)
        if key not in first or s.ts_ns < first[key][0]:
            first[key] = (s.ts_ns, s.iface)
        seen[key][s.iface].append(s)
    keep: set[int] = set()
    for key, ifaces in seen.items():
        primary = ifaces[first[key][1]]
        keep.update(s.frame for s in primary)
        have = Counter(s.payload for s in primary)
        for iface, segs in ifaces.items():
            if iface == first[key][1]:
                continue
            here: Counter[bytes] = Counter()
            for s in segs:
                here[s.payload] += 1
                if here[s.payload] > have[s.payload]:
                    have[s.payload] += 1
                    keep.add(s.frame)
    return [s for s in udp if s.frame in keep]
