"""From a capture to events: TCP set-ups, SIP messages (clear or decrypted TLS), STUN/TURN
messages (plain on TCP, RFC 4571-framed inside data connections, or UDP) and media legs.

    analysis = analyse_capture(read_capture("run.pcapng"))
    for ev in analysis.events: print(ev.ts_ns, ev.src, ev.dst, ev.label)
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from lab.capture.pcapfile import Capture, Packet
from lab.capture.stream import CaptureStream
from lab.ladder import decrypt
from lab.ladder.decap import DecodeStats
from lab.ladder.events import Connection, Endpoint, Event, Kind, MediaLeg, TcpInfo
from lab.ladder.media import MediaBook
from lab.ladder.messages import sip_info, stun_info
from lab.ladder.packets import Segment, packet_segments
from lab.ladder.relevant import Filter, relevant, watch
from lab.ladder.streams import StreamDecoder, Unit, datagram_unit
from lab.ladder.tcp import Chunk, TcpResult, connections

log = logging.getLogger(__name__)

#: what opens the TLS streams: (capture, frame -> stream, server ports, key log) -> plaintext
Decryptor = Callable[[Capture, dict[int, decrypt.StreamKey], Iterable[int], bytes],
                     decrypt.TlsResult]


@dataclass
class Analysis:
    """Everything the ladder reads from one capture."""

    path: str
    packets: int
    interfaces: list[str]
    start_ns: int
    end_ns: int
    connections: list[Connection]
    events: list[Event]
    media: list[MediaLeg]
    warnings: list[str] = field(default_factory=list)
    tls_decrypted: int = 0  # TLS connections whose plaintext was read
    tls_opaque: int = 0  # TLS connections left encrypted
    tls_notes: list[str] = field(default_factory=list)  # each connection left encrypted, why
    decoded: list[str] = field(default_factory=list)  # tunnels unwrapped, fragments reassembled
    segments: list[Segment] = field(default_factory=list, repr=False)  # kept: the taps read them


@dataclass
class _Builder:
    cap: Capture
    tcp: TcpResult
    events: list[Event] = field(default_factory=list)
    media: MediaBook = field(default_factory=MediaBook)
    tls_frames: dict[int, decrypt.StreamKey] = field(default_factory=dict)
    tls_ports: set[int] = field(default_factory=set)
    undecoded: Counter[str] = field(default_factory=Counter)  # STUN-like, header read only

    def unit(self, unit: Unit, chunk: Chunk, stream: tuple[Endpoint, Endpoint, str],
             conn: int | None, transport: str) -> None:
        src, dst, iface = stream
        if unit.kind in ("rtp", "rtcp", "channeldata"):
            self.media.add(unit, chunk.ts_ns, chunk.frame, (src, dst, iface), conn=conn,
                           transport=transport)
            return
        if unit.kind == "msturn":
            self.undecoded[unit.note] += 1
            return
        if unit.kind == "stun" and unit.stun is not None:
            info = stun_info(unit.stun)
            self.events.append(Event(chunk.ts_ns, chunk.frame, iface, src, dst, transport,
                                     Kind.STUN, conn, unit.framing, unit.head, stun=info))
            if conn is not None and info.method == "ConnectionBind" and info.cls == "success":
                self.tcp.connections[conn].bound = True
        elif unit.kind == "sip":
            sip = sip_info(unit.data)
            self.events.append(Event(chunk.ts_ns, chunk.frame, iface, src, dst, transport,
                                     Kind.SIP, conn, unit.framing, unit.head, sip=sip))
            if "a=rtpmap:" in sip.body:
                self.media.sdp(sip.body)

    def connection(self, conn: Connection) -> None:
        kinds: list[str] = []
        for direction in ("up", "down"):
            stream = self.tcp.streams.get((conn.index, direction))
            if stream is None:
                continue
            decoder = StreamDecoder()
            where = (stream.src, stream.dst, stream.iface)
            for chunk in stream.chunks:
                for unit in decoder.feed(chunk.data, chunk.gap_before):
                    self.unit(unit, chunk, where, conn.index, "TCP")
            decoder.finish()
            kinds += decoder.protocols
            if "tls" in decoder.protocols:
                self.tls_ports.add(conn.server.port)
                for frame in stream.frames:
                    self.tls_frames[frame] = (conn.index, direction)
        conn.protocol = _protocol_name(kinds)
        if conn.syn_ns is not None:
            outcome = "refused" if conn.refused else "established" if conn.established else (
                "no answer")
            info = TcpInfo(outcome, conn.syns, tuple(conn.seen_on), tuple(conn.answered_on),
                           tls="tls" in kinds)
            self.events.append(Event(conn.syn_ns, conn.syn_frame, conn.iface, conn.client,
                                     conn.server, "TCP", Kind.TCP, conn.index, tcp=info))

    def plaintext(self, key: decrypt.StreamKey, chunks: list[Chunk]) -> None:
        stream = self.tcp.streams[key]
        decoder = StreamDecoder()
        for chunk in chunks:
            for unit in decoder.feed(chunk.data):
                self.unit(unit, chunk, (stream.src, stream.dst, stream.iface), key[0], "TLS")
        self.tcp.connections[key[0]].protocol = "TLS: " + _protocol_name(decoder.protocols)


def _protocol_name(kinds: list[str]) -> str:
    names = {"stun": "STUN", "rfc4571": "RFC 4571", "sip": "SIP", "tls": "TLS",
             "opaque": "data"}
    seen: list[str] = []
    for k in kinds:
        if names.get(k, k) not in seen:
            seen.append(names.get(k, k))
    return " + ".join(seen)


def analyse_capture(source: Capture | CaptureStream, keylog: bytes = b"", *,
                    addresses: Collection[str] = (),
                    decryptor: Decryptor | None = None) -> Analysis:
    """Decode a capture (read whole, or streamed: :func:`lab.capture.stream.open_capture`);
    ``keylog`` adds TLS secrets to those embedded in it; ``addresses`` (a names file's), if
    any, are the only ones whose packets are kept (:mod:`lab.ladder.relevant`); ``decryptor``
    opens the TLS streams (tshark by default; another one reads ``cap.packets``, so it needs
    a capture read whole)."""
    stats, filt = DecodeStats(), Filter(addresses)
    if isinstance(source, CaptureStream):
        cap = source.capture
        store: dict[int, Packet] = {}
        filt.store, filt.wanted = store, lambda: bool(keylog.strip() or cap.tls_keylog.strip())
        packets: Iterable[Packet] = watch(source, filt)
        lookup: Callable[[int], Packet] = store.__getitem__
    else:
        cap, packets = source, source.packets
        lookup = lambda n: source.packets[n - 1]  # noqa: E731 - the whole capture's frames
    kept = list(relevant(packet_segments(cap.interfaces, packets, stats), filt))
    b = _Builder(cap, connections(kept))
    for conn in b.tcp.connections:
        b.connection(conn)
    warnings: list[str] = []
    if cap.truncated:
        warnings.append("the capture file is cut short: its last packet is incomplete")
    warnings += stats.warnings()
    frames = b.tls_frames
    if filt.store is not None:  # streamed: the frames kept (those with TLS bytes)
        frames = {n: key for n, key in frames.items() if n in filt.store}
    secrets_in = cap.tls_keylog + b"\n" + keylog
    if decryptor is None:
        decrypted = decrypt.decrypt(cap, frames, b.tls_ports, secrets_in, packet=lookup)
    else:
        decrypted = decryptor(cap, frames, b.tls_ports, secrets_in)
    if decrypted.warning:
        warnings.append(decrypted.warning)
    for key, chunks in decrypted.plaintext.items():
        b.plaintext(key, chunks)
    for seg in b.tcp.udp:
        unit = datagram_unit(seg.payload)
        if unit is not None:
            chunk = Chunk(seg.ts_ns, seg.frame, seg.payload)
            where = (Endpoint(seg.src, seg.sport), Endpoint(seg.dst, seg.dport), seg.iface)
            b.unit(unit, chunk, where, None, "UDP")
    warnings += _undecoded_warning(b.undecoded)
    b.events.sort(key=lambda e: (e.ts_ns, e.frame))
    tls_streams = {key for key in b.tls_frames.values()}
    secrets = cap.tls_keylog + b"\n" + keylog
    notes = [_opaque_note(b.tcp, index, secrets) for index in
             sorted({i for i, _ in tls_streams} - {i for i, _ in decrypted.plaintext})]
    read = {index for index, _ in decrypted.plaintext}  # counted per connection
    return Analysis(
        cap.path, stats.frames, [i.name for i in cap.interfaces],
        stats.first_ns, stats.last_ns, b.tcp.connections, b.events,
        b.media.legs(), warnings, len(read), len({i for i, _ in tls_streams} - read), notes,
        stats.notes(), kept)


def _undecoded_warning(counts: Counter[str]) -> list[str]:
    if not counts:
        return []
    kinds = ", ".join(f"{k} x{n}" for k, n in sorted(counts.items()))
    return [f"{sum(counts.values())} MS-TURN messages (or STUN that does not decode: a length "
            "not a multiple of 4, no magic cookie) read from their header only and not used "
            f"for the steps: {kinds}"]


def _opaque_note(tcp: TcpResult, index: int, keylog: bytes) -> str:
    conn = tcp.connections[index]
    up = tcp.streams.get((index, "up"))
    first = b"".join(c.data for c in up.chunks)[:64] if up is not None else b""
    return (f"TLS {conn.client} -> {conn.server} not decrypted: "
            f"{decrypt.opaque_reason(first, keylog)}")
