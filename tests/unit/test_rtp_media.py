"""The media endpoints over an in-memory frame stream: the sharer's paced stream, the viewer's
return traffic, RTCP round-trip times and statistics both ways, malformed frames counted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from lab.aio.media import MediaEndpoint, TcpFrameStream
from lab.proto.rtp import SHARE_PAYLOAD_TYPE, MediaStats, parse_rtp
from lab.proto.stun import Rfc4571Framer


class MemoryStream:
    """One end of an in-memory duplex of RFC 4571 frames (what IceStream offers)."""

    def __init__(self, inbox: asyncio.Queue[bytes | None], outbox: asyncio.Queue[bytes | None],
                 wire: list[bytes]) -> None:
        self.inbox, self.outbox, self.wire = inbox, outbox, wire

    async def read_frame(self) -> bytes | None:
        return await self.inbox.get()

    def write_frames(self, payloads: Sequence[bytes]) -> None:
        for p in payloads:
            self.wire.append(p)
            self.outbox.put_nowait(p)

    async def drain(self) -> None:
        await asyncio.sleep(0)

    async def close(self) -> None:
        self.outbox.put_nowait(None)


def duplex() -> tuple[MemoryStream, MemoryStream, list[bytes], list[bytes]]:
    ab: asyncio.Queue[bytes | None] = asyncio.Queue()
    ba: asyncio.Queue[bytes | None] = asyncio.Queue()
    wire_a: list[bytes] = []
    wire_b: list[bytes] = []
    return MemoryStream(ba, ab, wire_a), MemoryStream(ab, ba, wire_b), wire_a, wire_b


def test_sharer_and_viewer_exchange_media_with_stats() -> None:
    async def main() -> tuple[MediaStats, MediaStats, list[bytes], list[bytes]]:
        a, b, wire_a, wire_b = duplex()
        sharer = MediaEndpoint(a, role="sharer", rate_bps=400_000, fps=20, rtcp_interval=0.1)
        viewer = MediaEndpoint(b, role="viewer", return_pps=20, rtcp_interval=0.1)
        s, v = await asyncio.gather(sharer.run(0.6), viewer.run(0.6))
        return s, v, wire_a, wire_b

    s, v, wire_a, wire_b = asyncio.run(main())
    assert s.sent_packets == v.received_packets > 0
    assert s.sent_bytes == v.received_bytes
    assert v.sent_packets == s.received_packets > 5
    assert s.lost == v.lost == s.gaps == v.gaps == 0
    assert s.rtt_samples > 0 and v.rtt_samples > 0
    assert s.rtt_ms is not None and s.rtt_ms < 1000  # plumbing, not performance (bench/)
    # 400 kbit/s for 0.6 s, give or take one frame of the synthetic stream
    assert s.sent_bytes == pytest.approx(400_000 / 8 * 0.6, rel=0.35)
    rtp = [parse_rtp(f) for f in wire_a if not 192 <= f[1] <= 223]
    assert {p.payload_type for p in rtp} == {SHARE_PAYLOAD_TYPE}
    assert all(len(p.payload) <= 1200 for p in rtp)
    back = [parse_rtp(f) for f in wire_b if not 192 <= f[1] <= 223]
    assert back and max(len(p.payload) for p in back) < 60


def test_malformed_frames_are_counted_not_fatal() -> None:
    async def main() -> MediaStats:
        a, b, _, _ = duplex()
        viewer = MediaEndpoint(b, role="viewer", rtcp_interval=0.05)
        a.write_frames([b"\x40garbage-not-rtp", bytes.fromhex("80ff0001")])
        return await viewer.run(0.1)

    stats = asyncio.run(main())
    assert stats.malformed == 2
    assert stats.received_packets == 0


class FakeWriter:
    def get_extra_info(self, name: str) -> None:
        return None


def test_tcp_frame_stream_reframes_split_reads() -> None:
    async def main() -> list[bytes | None]:
        reader = asyncio.StreamReader()
        data = Rfc4571Framer.frame(b"one") + Rfc4571Framer.frame(b"two") + b"\x00"
        reader.feed_data(data[:4])
        reader.feed_data(data[4:] + b"\x05thr" + b"ee")
        reader.feed_eof()
        stream = TcpFrameStream(reader, FakeWriter())  # type: ignore[arg-type]
        return [await stream.read_frame() for _ in range(4)]

    assert asyncio.run(main()) == [b"one", b"two", b"three", None]


def test_bad_role_or_rate_is_refused() -> None:
    a, _, _, _ = duplex()
    with pytest.raises(ValueError, match="media role"):
        MediaEndpoint(a, role="presenter")
    with pytest.raises(ValueError, match="positive"):
        MediaEndpoint(a, role="sharer", rate_bps=-1)
