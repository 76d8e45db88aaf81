"""From a capture to events: TCP set-ups, SIP messages (clear or decrypted TLS), STUN/TURN
messages (plain on TCP, RFC 4571-framed inside data connections, or UDP) and media legs.

    analysis = analyse_capture(read_capture("run.pcapng"))
    for ev in analysis.events: print(ev.ts_ns, ev.src, ev.dst, ev.label)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from lab.capture.pcapfile import Capture
from lab.ladder import decrypt
from lab.ladder.events import Connection, Endpoint, Event, Kind, MediaLeg, TcpInfo
from lab.ladder.media import MediaBook
from lab.ladder.messages import sip_info, stun_info
from lab.ladder.packets import segments
from lab.ladder.streams import StreamDecoder, Unit, datagram_unit
from lab.ladder.tcp import Chunk, TcpResult, connections

log = logging.getLogger(__name__)


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
    tls_decrypted: int = 0  # TLS streams whose plaintext was read
    tls_opaque: int = 0  # TLS streams left encrypted
    tls_notes: list[str] = field(default_factory=list)  # each connection left encrypted, why


@dataclass
class _Builder:
    cap: Capture
    tcp: TcpResult
    events: list[Event] = field(default_factory=list)
    media: MediaBook = field(default_factory=MediaBook)
    tls_frames: dict[int, decrypt.StreamKey] = field(default_factory=dict)
    tls_ports: set[int] = field(default_factory=set)

    def unit(self, unit: Unit, chunk: Chunk, stream: tuple[Endpoint, Endpoint, str],
             conn: int | None, transport: str) -> None:
        src, dst, iface = stream
        if unit.kind in ("rtp", "rtcp", "channeldata"):
            self.media.add(unit, chunk.ts_ns, chunk.frame, (src, dst, iface), conn=conn,
                           transport=transport)
            return
        if unit.kind == "stun" and unit.stun is not None:
            info = stun_info(unit.stun)
            self.events.append(Event(chunk.ts_ns, chunk.frame, iface, src, dst, transport,
                                     Kind.STUN, conn, unit.framing, unit.head, stun=info))
            if conn is not None and info.method == "ConnectionBind" and info.cls == "success":
                self.tcp.connections[conn].bound = True
        elif unit.kind == "sip":
            self.events.append(Event(chunk.ts_ns, chunk.frame, iface, src, dst, transport,
                                     Kind.SIP, conn, unit.framing, unit.head,
                                     sip=sip_info(unit.data)))

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


def analyse_capture(cap: Capture, keylog: bytes = b"") -> Analysis:
    """Decode ``cap``; ``keylog`` adds TLS secrets to those embedded in the capture."""
    b = _Builder(cap, connections(segments(cap)))
    for conn in b.tcp.connections:
        b.connection(conn)
    warnings: list[str] = []
    if cap.truncated:
        warnings.append("the capture file is cut short: its last packet is incomplete")
    decrypted = decrypt.decrypt(cap, b.tls_frames, b.tls_ports, cap.tls_keylog + b"\n" + keylog)
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
    b.events.sort(key=lambda e: (e.ts_ns, e.frame))
    tls_streams = {key for key in b.tls_frames.values()}
    secrets = cap.tls_keylog + b"\n" + keylog
    notes = [_opaque_note(b.tcp, index, secrets) for index in
             sorted({i for i, _ in tls_streams - decrypted.plaintext.keys()})]
    times = [p.ts_ns for p in cap.packets]
    return Analysis(
        cap.path, len(cap.packets), [i.name for i in cap.interfaces],
        min(times, default=0), max(times, default=0), b.tcp.connections, b.events,
        b.media.legs(), warnings, len(decrypted.plaintext),
        len(tls_streams) - len(decrypted.plaintext), notes)


def _opaque_note(tcp: TcpResult, index: int, keylog: bytes) -> str:
    conn = tcp.connections[index]
    up = tcp.streams.get((index, "up"))
    first = b"".join(c.data for c in up.chunks)[:64] if up is not None else b""
    return (f"TLS {conn.client} -> {conn.server} not decrypted: "
            f"{decrypt.opaque_reason(first, keylog)}")
