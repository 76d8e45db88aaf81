"""Media statistics with time as an argument: gaps, loss, jitter (RFC 3550 A.8), RTT (§6.4.1),
and the synthetic share traffic."""

from __future__ import annotations

import pytest

from lab.proto.rtp import (
    ReceptionStats,
    RtpPacket,
    RtpSession,
    parse_rtp,
    sharer_source,
    viewer_source,
)


def _feed(stats: ReceptionStats, seqs: list[int], *, start_ts: int = 0) -> None:
    for i, seq in enumerate(seqs):
        stats.on_packet(RtpPacket(127, seq, start_ts + 9000 * i, 42, b"x" * 10), 1.0 + i * 0.1)


def test_in_order_stream_has_no_gap() -> None:
    stats = ReceptionStats(90000)
    _feed(stats, list(range(100, 110)))
    assert (stats.packets, stats.octets, stats.gaps, stats.lost) == (10, 100, 0, 0)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)  # transit constant: 0.1 s per 9000 ticks


def test_gaps_loss_duplicates_reordering() -> None:
    stats = ReceptionStats(90000)
    _feed(stats, [1, 2, 5, 5, 6, 4, 9])
    assert stats.gaps == 2  # 2->5, 6->9
    assert stats.duplicates == 1
    assert stats.reordered == 1
    assert stats.expected == 9 and stats.lost == 9 - 7


def test_sequence_wrap_counts_cycles() -> None:
    stats = ReceptionStats(90000)
    _feed(stats, [65534, 65535, 0, 1])
    assert stats.cycles == 65536 and stats.extended_max == 65537
    assert stats.gaps == 0 and stats.lost == 0


def test_jitter_rfc3550_a8_step() -> None:
    stats = ReceptionStats(90000)
    stats.on_packet(RtpPacket(127, 1, 0, 1), 10.0)
    stats.on_packet(RtpPacket(127, 2, 9000, 1), 10.1 + 0.016)  # 16 ms late = 1440 ticks
    assert stats.jitter == pytest.approx(1440 / 16)
    stats.on_packet(RtpPacket(127, 3, 18000, 1), 10.2)  # back on time: D = 1440 again
    assert stats.jitter == pytest.approx(1440 / 16 + (1440 - 1440 / 16) / 16)


def test_report_block_fraction_lost_and_dlsr() -> None:
    stats = ReceptionStats(90000)
    _feed(stats, [0, 1, 2, 3, 8])  # 9 expected, 5 received
    stats.on_sender_report(0x0000123456780000, now=5.0)
    block = stats.report_block(now=5.25)
    assert block is not None
    assert block.lost == 4 and block.fraction_lost == (4 << 8) // 9
    assert block.lsr == 0x12345678 and block.dlsr == 0.25 * 65536
    again = stats.report_block(now=6.0)
    assert again is not None and again.fraction_lost == 0  # nothing new lost since


def test_rtt_between_two_sessions() -> None:
    sharer, viewer = RtpSession(ssrc=0xA), RtpSession(ssrc=0xB)
    t0 = 1_700_000_000.0
    viewer.receive(sharer.packet(b"frame", capture_time=t0), t0 + 0.005)
    viewer.receive(sharer.sender_report(t0 + 0.1), t0 + 0.110)  # 10 ms one way
    report = viewer.sender_report(t0 + 0.150)  # holds the SR 40 ms
    sharer.receive(viewer.packet(b"ack", capture_time=t0 + 0.15), t0 + 0.16)
    assert sharer.receive(report, t0 + 0.160) == "rtcp"
    stats = sharer.stats(t0 + 0.2)
    assert stats.rtt_samples == 1
    assert stats.rtt_ms == pytest.approx(20.0, abs=0.05)  # 160 - 100 - 40
    assert stats.received_packets == 1 and stats.sent_packets == 1
    assert viewer.stats(t0 + 0.2).received_bytes == len(b"frame")


def test_session_numbers_packets_and_keeps_frame_timestamp() -> None:
    sess = RtpSession(ssrc=7, first_sequence=65535, timestamp_base=10)
    a = parse_rtp(sess.packet(b"a", capture_time=1.0))
    b = parse_rtp(sess.packet(b"b", capture_time=1.0, marker=True))
    assert (a.sequence, b.sequence) == (65535, 0)
    assert a.timestamp == b.timestamp == 10 + 90000
    assert b.marker and not a.marker and a.payload_type == 127


def test_sharer_traffic_averages_its_rate_and_fragments() -> None:
    src = sharer_source(2_000_000, start=100.0, fps=15.0)
    frags = src.due(100.0 + 60 / 15 - 1e-9)  # 60 frames: two refresh periods
    assert src.next_index == 60
    total = sum(len(f.payload) for f in frags)
    assert total == pytest.approx(2_000_000 / 8 * 4, rel=0.1)
    assert all(len(f.payload) <= 1200 for f in frags)
    assert sum(f.marker for f in frags) == 60  # one marker per frame, on its last fragment
    first = [f for f in frags if f.capture_time == 100.0]
    assert first[-1].marker and not any(f.marker for f in first[:-1])
    assert len(first) > 1  # a refresh spans several packets
    assert src.next_deadline() == pytest.approx(104.0)
    assert src.due(103.99) == []


def test_viewer_return_trickle_is_small() -> None:
    src = viewer_source(start=0.0, pps=10.0, size=48)
    frags = src.due(0.95)
    assert len(frags) == 10 and all(40 <= len(f.payload) <= 56 for f in frags)
