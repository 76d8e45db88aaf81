"""Keeping only what the ladder can use while a capture streams by, so that a capture of
gigabytes of other traffic costs time, not memory.

* A UDP datagram is kept if it is STUN/TURN (MS-TURN too), SIP, RTP/RTCP or ChannelData
  (:func:`lab.ladder.streams.datagram_unit`); anything else (DNS, QUIC, syslog...) is dropped.
* A TCP direction is judged by its first payload (:func:`lab.ladder.streams.classify`): TLS,
  STUN, RFC 4571 frames and SIP are kept; any other (HTTP, SSH, a database...) keeps only its
  SYN, FIN and RST segments, without payload, which say how the connection went (its bare
  ACKs are dropped too).
* With ``addresses`` (a names file's), only packets to or from one of them are kept.
* The frames of TLS directions are kept whole while a key log is at hand, for tshark
  (:mod:`lab.ladder.decrypt`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field

from lab.capture.pcapfile import Packet
from lab.ladder.packets import PROTO_UDP, TCP_FIN, TCP_RST, TCP_SYN, Segment
from lab.ladder.streams import classify, datagram_unit

_KEEP = {"tls", "stun", "rfc4571", "sip", "undecided"}
Direction = tuple[str, int, str, int]


@dataclass
class Filter:
    """The state of the filter: each TCP direction's verdict, and what was dropped."""

    addresses: Collection[str] = ()
    dropped_udp: int = 0
    dropped_tcp: int = 0
    verdicts: dict[Direction, str] = field(default_factory=dict)
    tls: set[Direction] = field(default_factory=set)
    store: dict[int, Packet] | None = None  # frame -> packet of TLS directions, for tshark
    wanted: Callable[[], bool] = lambda: True  # is there a key log to decrypt them with?
    current: Packet | None = None

    def keep(self, seg: Segment) -> Segment | None:
        if self.addresses and seg.src not in self.addresses and seg.dst not in self.addresses:
            return None
        if seg.proto == PROTO_UDP:
            useful = datagram_unit(seg.payload) is not None
            self.dropped_udp += not useful
            return seg if useful else None
        if not seg.payload:
            return None if self._idle_ack(seg) else seg
        if self._verdict(seg) in _KEEP:
            return seg
        self.dropped_tcp += 1
        if seg.flags & (TCP_SYN | TCP_FIN | TCP_RST):
            return Segment(seg.frame, seg.ts_ns, seg.iface, seg.proto, seg.src, seg.sport,
                           seg.dst, seg.dport, b"", seg.seq, seg.ack, seg.flags)
        return None

    def _idle_ack(self, seg: Segment) -> bool:
        """A bare ACK of a connection whose data is of no use (the ACKs of a download)."""
        if seg.flags & (TCP_SYN | TCP_FIN | TCP_RST):
            return False
        back = self.verdicts.get((seg.dst, seg.dport, seg.src, seg.sport))
        own = self.verdicts.get((seg.src, seg.sport, seg.dst, seg.dport))
        if back is not None and back not in _KEEP and (own is None or own not in _KEEP):
            self.dropped_tcp += 1
            return True
        return False

    def _verdict(self, seg: Segment) -> str:
        """What this TCP direction carries, judged on its first payload ("undecided" while
        the payload is too short to tell: kept, and judged on the next segment)."""
        key = (seg.src, seg.sport, seg.dst, seg.dport)
        verdict = self.verdicts.get(key)
        if verdict is None:
            kind = classify(seg.payload)
            if kind is None:
                return "undecided"
            verdict = self.verdicts[key] = kind
            if kind == "tls":
                self.tls.add(key)
        return verdict


def relevant(segs: Iterable[Segment], filt: Filter) -> Iterator[Segment]:
    for seg in segs:
        kept = filt.keep(seg)
        if kept is not None:
            if filt.store is not None and kept.payload and (
                    kept.src, kept.sport, kept.dst, kept.dport) in filt.tls and filt.wanted():
                packet = filt.current
                if packet is not None and packet.number == kept.frame:
                    filt.store[kept.frame] = packet
            yield kept


def watch(packets: Iterable[Packet], filt: Filter) -> Iterator[Packet]:
    """Pass ``packets`` on, telling the filter which one is being decoded (for the TLS store)."""
    for pkt in packets:
        filt.current = pkt
        yield pkt
