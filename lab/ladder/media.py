"""Media legs from the capture: RTP (and RTCP, TURN ChannelData) per direction of each
connection or UDP flow and per SSRC, with RFC 3550 reception statistics computed by
``lab.proto.rtp``. Jitter is in the payload type's clock: the SDPs' ``a=rtpmap`` (RFC 8866
§6.6) seen so far, else RFC 3551's static payload types, else 90 kHz (the share's x-data/90000,
flow.md §4)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lab.ladder.events import Endpoint, MediaLeg
from lab.ladder.streams import Unit
from lab.proto.rtp import ParseError, ReceptionStats, parse_rtp

#: RTP clock rate used for jitter when nothing says otherwise (x-data/90000, flow.md §4).
CLOCK_RATE = 90000
#: RFC 3551 §6, table 4 and 5: the static payload types' clock rates.
STATIC_CLOCKS: dict[int, int] = {
    **dict.fromkeys((0, 3, 4, 5, 7, 8, 9, 12, 13, 15, 18), 8000), 6: 16000, 16: 11025,
    17: 22050, 10: 44100, 11: 44100, 14: 90000,
    **dict.fromkeys((25, 26, 28, 31, 32, 33, 34), 90000),
}
_RTPMAP = re.compile(r"^a=rtpmap:(\d{1,3}) [^/\s]+/(\d{1,7})\b", re.MULTILINE)  # bounded

LegKey = tuple[Endpoint, Endpoint, str, int | None, int | None]


@dataclass
class _Leg:
    leg: MediaLeg
    stats: ReceptionStats = field(default_factory=lambda: ReceptionStats(CLOCK_RATE))


def clock_rates(sdp: str) -> dict[int, int]:
    """``a=rtpmap`` payload type -> clock rate of one SDP body."""
    return {int(pt): int(rate) for pt, rate in _RTPMAP.findall(sdp.replace("\r\n", "\n"))
            if 0 < int(rate) <= 1_000_000 and int(pt) < 128}


class MediaBook:
    """Accumulates media units into legs."""

    def __init__(self) -> None:
        self._legs: dict[LegKey, _Leg] = {}
        self._first: dict[tuple[Endpoint, Endpoint, str, int | None], LegKey] = {}
        self.rtpmap: dict[int, int] = {}  # from the SDPs seen so far

    def sdp(self, body: str) -> None:
        self.rtpmap.update(clock_rates(body))

    def clock(self, payload_type: int) -> int:
        return self.rtpmap.get(payload_type) or STATIC_CLOCKS.get(payload_type, CLOCK_RATE)

    def add(self, unit: Unit, ts_ns: int, frame: int, where: tuple[Endpoint, Endpoint, str],
            *, conn: int | None, transport: str) -> None:
        src, dst, iface = where
        packet = None
        if unit.kind == "rtp":
            try:
                packet = parse_rtp(unit.data)
            except ParseError:
                packet = None
        flow = (src, dst, transport, conn)
        if packet is not None:
            key: LegKey = (*flow, packet.ssrc)
            self._first.setdefault(flow, key)
        else:  # RTCP, ChannelData: counted with the flow's first RTP leg
            key = self._first.setdefault(flow, (*flow, None))
        entry = self._legs.get(key)
        if entry is None:
            leg = MediaLeg(src, dst, transport, unit.framing or unit.kind, conn, iface,
                           first_ns=ts_ns, first_frame=frame)
            entry = self._legs[key] = _Leg(leg)
            if packet is not None:
                leg.clock_rate = self.clock(packet.payload_type)
                entry.stats = ReceptionStats(leg.clock_rate)
        leg = entry.leg
        leg.last_ns = ts_ns
        if unit.kind == "rtcp":
            leg.rtcp += 1
            return
        leg.packets += 1
        leg.octets += len(unit.data)
        if packet is None:
            return
        if packet.payload_type not in leg.payload_types:
            leg.payload_types.append(packet.payload_type)
        entry.stats.on_packet(packet, ts_ns / 1e9)
        leg.timeline.append((ts_ns, len(unit.data), entry.stats.jitter / leg.clock_rate * 1000))

    def legs(self) -> list[MediaLeg]:
        out: list[MediaLeg] = []
        for entry in self._legs.values():
            leg, stats = entry.leg, entry.stats
            leg.ssrc = stats.ssrc
            leg.lost = max(0, stats.lost) if stats.ssrc is not None else 0
            leg.gaps = stats.gaps
            leg.jitter_ms = stats.jitter / leg.clock_rate * 1000
            out.append(leg)
        return sorted(out, key=lambda m: m.first_ns)
