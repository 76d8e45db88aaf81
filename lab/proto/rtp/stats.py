"""Reception statistics of one RTP source (RFC 3550 Appendix A.1, A.3, A.8) and RTT (§6.4.1).

Time is always an argument (seconds, float): the caller's clock, so tests need no sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lab.proto.rtp.packet import RtpPacket
from lab.proto.rtp.rtcp import ReportBlock, ntp_from_unix, ntp_middle

SEQ_MOD: Final = 1 << 16
MAX_DROPOUT: Final = 3000  # RFC 3550 A.1
MAX_MISORDER: Final = 100


@dataclass
class ReceptionStats:
    """What one end knows about the RTP stream it receives.

    ``gaps`` counts jumps forward in the sequence (each missing run once), ``lost`` the packets
    missing in total (expected minus received, RFC 3550 A.3); ``jitter`` is the interarrival
    jitter of RFC 3550 A.8 in timestamp units.
    """

    clock_rate: int
    ssrc: int | None = None
    packets: int = 0
    octets: int = 0
    gaps: int = 0
    duplicates: int = 0
    reordered: int = 0
    jitter: float = 0.0
    base_seq: int = 0
    max_seq: int = 0
    cycles: int = 0
    first_arrival: float | None = None
    last_arrival: float | None = None
    _transit: float | None = None
    _expected_prior: int = 0
    _received_prior: int = 0
    _lsr: int = 0
    _sr_arrival: float | None = None

    def on_packet(self, packet: RtpPacket, now: float) -> None:
        """Account for one received RTP packet arriving at ``now``."""
        if self.ssrc is None or self.ssrc != packet.ssrc:
            self._restart(packet, now)
        else:
            self._sequence(packet.sequence)
        self.packets += 1
        self.octets += len(packet.payload)
        self.last_arrival = now
        self._jitter(packet.timestamp, now)

    def _restart(self, packet: RtpPacket, now: float) -> None:
        self.ssrc = packet.ssrc
        self.base_seq = self.max_seq = packet.sequence
        self.cycles = 0
        self._transit = None
        self.first_arrival = now

    def _sequence(self, seq: int) -> None:
        delta = (seq - self.max_seq) % SEQ_MOD
        if delta == 0:
            self.duplicates += 1
        elif delta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += SEQ_MOD
            if delta > 1:
                self.gaps += 1
            self.max_seq = seq
        elif delta > SEQ_MOD - MAX_MISORDER:
            self.reordered += 1
        else:  # a very large jump: the source restarted its numbering (A.1 "bad_seq")
            self.gaps += 1
            self.base_seq = self.max_seq = seq
            self.cycles = 0
            self._expected_prior = self._received_prior = 0
            self.packets = 0

    def _jitter(self, rtp_ts: int, now: float) -> None:
        arrival = now * self.clock_rate
        transit = arrival - rtp_ts
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d > 1 << 31:  # a timestamp wrap between the two packets
                d = abs(d - (1 << 32))
            self.jitter += (d - self.jitter) / 16.0
        self._transit = transit

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1 if self.ssrc is not None else 0

    @property
    def lost(self) -> int:
        return self.expected - self.packets

    def on_sender_report(self, ntp: int, now: float) -> None:
        """Remember an SR's NTP time and when it arrived: the LSR/DLSR of the next report."""
        self._lsr = ntp_middle(ntp)
        self._sr_arrival = now

    def report_block(self, now: float) -> ReportBlock | None:
        """The reception report to send now (RFC 3550 §6.4.1, A.3), None before any packet."""
        if self.ssrc is None:
            return None
        expected, received = self.expected, self.packets
        exp_int = expected - self._expected_prior
        rcv_int = received - self._received_prior
        self._expected_prior, self._received_prior = expected, received
        lost_int = exp_int - rcv_int
        fraction = (lost_int << 8) // exp_int if exp_int > 0 and lost_int > 0 else 0
        dlsr = 0
        if self._sr_arrival is not None:
            dlsr = int((now - self._sr_arrival) * 65536) & 0xFFFFFFFF
        lost = max(-(1 << 23), min(self.lost, (1 << 23) - 1))
        return ReportBlock(self.ssrc, fraction, lost, self.extended_max & 0xFFFFFFFF,
                           int(self.jitter), self._lsr, dlsr)


def rtt_from_report(block: ReportBlock, now: float) -> float | None:
    """Round-trip time in seconds from a report block about *our* stream (RFC 3550 §6.4.1):
    ``A - LSR - DLSR`` with ``A`` the middle 32 bits of our NTP clock at arrival."""
    if block.lsr == 0:
        return None
    a = ntp_middle(ntp_from_unix(now))
    rtt = (a - block.lsr - block.dlsr) & 0xFFFFFFFF
    if rtt > 0x7FFFFFFF:  # clock went backwards, or a stale report: no sample
        return None
    return rtt / 65536.0
