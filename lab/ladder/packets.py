"""From captured frames to TCP segments and UDP datagrams: link layers, IPv4/IPv6, TCP, UDP.

Links, tunnels and IP fragments are :mod:`lab.ladder.decap`'s; what is not IP (ARP, ICMP...) is
skipped, and what could not be read (a frame cut by the snap length, an unknown link type, a
fragment never completed) is counted in :class:`~lab.ladder.decap.DecodeStats`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from lab.capture.pcapfile import Capture, Interface, Packet
from lab.ladder.decap import Decapsulator, DecodeStats

PROTO_TCP, PROTO_UDP = 6, 17
TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
_SIP = re.compile(rb"^(?:SIP/2\.0 \d{3}|[A-Z]+ \S+ SIP/2\.0)")


@dataclass(frozen=True, slots=True)
class Segment:
    """One TCP segment or UDP datagram."""

    frame: int
    ts_ns: int
    iface: str
    proto: int  # 6 or 17
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes
    seq: int = 0
    ack: int = 0
    flags: int = 0


def segments(cap: Capture, stats: DecodeStats | None = None) -> Iterator[Segment]:
    """Every TCP segment and UDP datagram of ``cap``, in file order; ``stats`` counts what
    could not be read (:class:`lab.ladder.decap.DecodeStats`)."""
    return packet_segments(cap.interfaces, cap.packets, stats)


def packet_segments(interfaces: Sequence[Interface], packets: Iterable[Packet],
                    stats: DecodeStats | None = None) -> Iterator[Segment]:
    """The segments of ``packets`` (any iterable: a capture being streamed, whose
    ``interfaces`` grow as its blocks describe them)."""
    stats = stats if stats is not None else DecodeStats()
    decap = Decapsulator(stats)
    for pkt in packets:
        stats.frames += 1
        if stats.frames == 1:
            stats.first_ns = pkt.ts_ns
        stats.first_ns = min(stats.first_ns, pkt.ts_ns)
        stats.last_ns = max(stats.last_ns, pkt.ts_ns)
        if pkt.iface >= len(interfaces):
            continue
        iface = interfaces[pkt.iface]
        found = decap.frame(iface.linktype, pkt.data)
        if found is None:
            _count_cut(stats, pkt, None)
            continue
        suffix, (src, dst, proto, body) = found
        seg = _transport(proto, body)
        _count_cut(stats, pkt, seg[2] if seg is not None else None)
        if seg is None:
            continue
        sport, dport, payload, seq, ack, flags = seg
        yield Segment(pkt.number, pkt.ts_ns, iface.name + suffix, proto, src, sport, dst,
                      dport, payload, seq, ack, flags)
    decap.finish()


def _count_cut(stats: DecodeStats, pkt: Packet, payload: bytes | None) -> None:
    if len(pkt.data) >= pkt.orig_len:
        return
    stats.cut += 1
    stats.cut_snaplen = max(stats.cut_snaplen, len(pkt.data))
    if payload:
        stats.cut_kinds[_kind(payload)] += 1


def _kind(payload: bytes) -> str:
    if _SIP.match(payload[:64]):
        return "SIP"
    if len(payload) >= 8 and payload[4:8] == b"\x21\x12\xa4\x42":
        return "STUN"
    if payload[0] in (0x14, 0x15, 0x16, 0x17) and payload[1:2] == b"\x03":
        return "TLS"
    if payload[0] >> 6 == 2:
        return "RTP"
    return "other"


def _transport(proto: int, body: bytes) -> tuple[int, int, bytes, int, int, int] | None:
    if proto == PROTO_TCP and len(body) >= 20:
        sport, dport, seq, ack, off_flags = struct.unpack_from("!HHIIH", body)
        offset = (off_flags >> 12) * 4
        if offset < 20:
            return None
        return sport, dport, body[offset:], seq, ack, off_flags & 0x3F
    if proto == PROTO_UDP and len(body) >= 8:
        sport, dport, length = struct.unpack_from("!HHH", body)
        end = length if 8 <= length <= len(body) else len(body)
        return sport, dport, body[8:end], 0, 0, 0
    return None
