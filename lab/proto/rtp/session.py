"""One end of an RTP session, sans-I/O: numbering, timestamps, reports and statistics.

A :class:`RtpSession` turns payloads into RTP packets (RFC 3550 §5.1) and SRs (§6.4.1), and
turns received frames (RTP or RTCP, demultiplexed per RFC 5761 §4) into statistics. The caller
moves the bytes (RFC 4571 framing on the ICE stream, :mod:`lab.aio.media`) and passes the time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Final

from lab.proto.rtp.packet import SHARE_CLOCK_RATE, SHARE_PAYLOAD_TYPE, RtpPacket, parse_rtp
from lab.proto.rtp.rtcp import ReceiverReport, SenderReport, ntp_from_unix, parse_rtcp
from lab.proto.rtp.rtcp import is_rtcp as _is_rtcp
from lab.proto.rtp.stats import ReceptionStats, rtt_from_report

U32: Final = 0xFFFFFFFF


@dataclass(frozen=True)
class MediaStats:
    """A snapshot of one end's media statistics, as the daemons expose them."""

    sent_packets: int
    sent_bytes: int
    received_packets: int
    received_bytes: int
    lost: int
    gaps: int
    duplicates: int
    reordered: int
    jitter_ms: float
    rtt_ms: float | None
    rtt_min_ms: float | None
    rtt_mean_ms: float | None
    rtt_samples: int
    rtcp_sent: int
    rtcp_received: int
    duration_s: float
    malformed: int = 0

    def as_dict(self) -> dict[str, int | float | None]:
        return asdict(self)


@dataclass
class RtpSession:
    """Send and receive state of one RTP session (one SSRC each way)."""

    ssrc: int
    payload_type: int = SHARE_PAYLOAD_TYPE
    clock_rate: int = SHARE_CLOCK_RATE
    first_sequence: int = 0
    timestamp_base: int = 0
    sent_packets: int = 0
    sent_bytes: int = 0
    rtcp_sent: int = 0
    rtcp_received: int = 0
    rtt_samples: list[float] = field(default_factory=list)
    started: float | None = None
    last_activity: float | None = None
    received: ReceptionStats = field(init=False)

    def __post_init__(self) -> None:
        self.received = ReceptionStats(self.clock_rate)

    def timestamp(self, capture_time: float) -> int:
        """RTP timestamp of a frame captured at ``capture_time`` (RFC 3550 §5.1)."""
        return (self.timestamp_base + int(capture_time * self.clock_rate)) & U32

    def packet(self, payload: bytes, *, capture_time: float, marker: bool = False) -> bytes:
        """Encode the next RTP packet; fragments of one frame share ``capture_time``."""
        if self.started is None:
            self.started = capture_time
        self.last_activity = capture_time
        seq = (self.first_sequence + self.sent_packets) & 0xFFFF
        pkt = RtpPacket(self.payload_type, seq, self.timestamp(capture_time), self.ssrc,
                        payload, marker)
        self.sent_packets += 1
        self.sent_bytes += len(payload)
        return pkt.encode()

    def sender_report(self, now: float) -> bytes:
        """An SR with one reception report when we receive a stream (RFC 3550 §6.4.1)."""
        block = self.received.report_block(now)
        sr = SenderReport(self.ssrc, ntp_from_unix(now), self.timestamp(now), self.sent_packets,
                          self.sent_bytes, (block,) if block is not None else ())
        self.rtcp_sent += 1
        self.started = now if self.started is None else self.started
        self.last_activity = now
        return sr.encode()

    def receive(self, frame: bytes, now: float) -> str:
        """Account for one received frame; returns ``"rtp"`` or ``"rtcp"``.

        Raises :class:`lab.proto.rtp.ParseError` on bytes that are neither."""
        if self.started is None:
            self.started = now
        self.last_activity = now
        if _is_rtcp(frame):
            self._rtcp(frame, now)
            return "rtcp"
        self.received.on_packet(parse_rtp(frame), now)
        return "rtp"

    def _rtcp(self, frame: bytes, now: float) -> None:
        self.rtcp_received += 1
        for pkt in parse_rtcp(frame):
            if isinstance(pkt, SenderReport):
                self.received.on_sender_report(pkt.ntp, now)
            if not isinstance(pkt, SenderReport | ReceiverReport):
                continue
            for block in pkt.reports:
                if block.ssrc != self.ssrc:
                    continue
                rtt = rtt_from_report(block, now)
                if rtt is not None:
                    self.rtt_samples.append(rtt)

    def _duration(self, now: float) -> float:
        """Seconds from the first to the last packet sent or received (``now`` if none yet)."""
        if self.started is None:
            return 0.0
        end = self.last_activity if self.last_activity is not None else now
        return round(max(end - self.started, 0.0), 3)

    def stats(self, now: float) -> MediaStats:
        rx = self.received
        rtts = self.rtt_samples
        return MediaStats(
            sent_packets=self.sent_packets, sent_bytes=self.sent_bytes,
            received_packets=rx.packets, received_bytes=rx.octets,
            lost=max(rx.lost, 0), gaps=rx.gaps, duplicates=rx.duplicates, reordered=rx.reordered,
            jitter_ms=round(rx.jitter * 1000.0 / self.clock_rate, 3),
            rtt_ms=round(rtts[-1] * 1000, 3) if rtts else None,
            rtt_min_ms=round(min(rtts) * 1000, 3) if rtts else None,
            rtt_mean_ms=round(sum(rtts) / len(rtts) * 1000, 3) if rtts else None,
            rtt_samples=len(rtts), rtcp_sent=self.rtcp_sent, rtcp_received=self.rtcp_received,
            duration_s=self._duration(now),
        )
