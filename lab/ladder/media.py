"""Media legs from the capture: RTP (and RTCP, TURN ChannelData) per direction of each
connection or UDP flow, with RFC 3550 reception statistics computed by ``lab.proto.rtp``."""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.ladder.events import Endpoint, MediaLeg
from lab.ladder.streams import Unit
from lab.proto.rtp import ParseError, ReceptionStats, parse_rtp

#: RTP clock rate used for jitter when the payload type is dynamic (x-data/90000, flow.md §4).
CLOCK_RATE = 90000

LegKey = tuple[Endpoint, Endpoint, str, int | None]


@dataclass
class _Leg:
    leg: MediaLeg
    stats: ReceptionStats = field(default_factory=lambda: ReceptionStats(CLOCK_RATE))


class MediaBook:
    """Accumulates media units into legs."""

    def __init__(self) -> None:
        self._legs: dict[LegKey, _Leg] = {}

    def add(self, unit: Unit, ts_ns: int, frame: int, where: tuple[Endpoint, Endpoint, str],
            *, conn: int | None, transport: str) -> None:
        src, dst, iface = where
        key = (src, dst, transport, conn)
        entry = self._legs.get(key)
        if entry is None:
            leg = MediaLeg(src, dst, transport, unit.framing or unit.kind, conn, iface,
                           first_ns=ts_ns, first_frame=frame)
            entry = self._legs[key] = _Leg(leg)
        leg = entry.leg
        leg.last_ns = ts_ns
        if unit.kind == "rtcp":
            leg.rtcp += 1
            return
        leg.packets += 1
        leg.octets += len(unit.data)
        if unit.kind != "rtp":
            return
        try:
            packet = parse_rtp(unit.data)
        except ParseError:
            return
        if packet.payload_type not in leg.payload_types:
            leg.payload_types.append(packet.payload_type)
        entry.stats.on_packet(packet, ts_ns / 1e9)

    def legs(self) -> list[MediaLeg]:
        out: list[MediaLeg] = []
        for entry in self._legs.values():
            leg, stats = entry.leg, entry.stats
            leg.ssrc = stats.ssrc
            leg.lost = max(0, stats.lost) if stats.ssrc is not None else 0
            leg.gaps = stats.gaps
            leg.jitter_ms = stats.jitter / CLOCK_RATE * 1000
            out.append(leg)
        return sorted(out, key=lambda m: m.first_ns)
