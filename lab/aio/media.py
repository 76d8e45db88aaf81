"""The shared screen's media, asyncio side: RTP PT 127 over RFC 4571 framing on a stream.

The stream is the one ICE selected (:class:`lab.aio.ice.IceStream`) or, for references and
tests, any TCP connection wrapped in :class:`TcpFrameStream`. Both ends run a
:class:`MediaEndpoint`:

* the **sharer** sends a synthetic RDP-like stream (screen updates fragmented into RTP packets,
  :mod:`lab.proto.rtp.synthetic`) at ``rate_bps``, or as fast as the path takes with
  ``rate_bps=0`` (the benchmark);
* the **viewer** sends its small return traffic (a trickle of short packets);
* both send an RTCP SR every ``rtcp_interval`` (RFC 3550 §6.4.1, multiplexed per RFC 5761) whose
  report block lets the other end compute the round-trip time, and both keep statistics
  (:class:`lab.proto.rtp.MediaStats`: packets, bytes, gaps, loss, jitter, RTT).

    endpoint = MediaEndpoint(result.stream, role="sharer", rate_bps=2_000_000)
    stats = await endpoint.run(duration=5.0)        # or: task + endpoint.stats() while running
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from lab.proto.rtp import MediaStats, ParseError, RtpSession, TrafficSource
from lab.proto.rtp.synthetic import sharer_source, viewer_source
from lab.proto.stun import ParseError as FramingError
from lab.proto.stun import Rfc4571Framer

log = logging.getLogger(__name__)
ROLES = ("sharer", "viewer")
SATURATE_BATCH = 64  # fragments written per drain when sending as fast as possible


class FrameStream(Protocol):
    """RFC 4571 frames over a byte stream (the ICE stream or a plain TCP connection)."""

    async def read_frame(self) -> bytes | None: ...

    def write_frames(self, payloads: Sequence[bytes]) -> None: ...

    async def drain(self) -> None: ...

    async def close(self) -> None: ...


class TcpFrameStream:
    """RFC 4571 framing on a plain TCP connection: the direct reference path of the bench."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self._framer = Rfc4571Framer()
        self._ready: list[bytes] = []
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def read_frame(self) -> bytes | None:
        while not self._ready:
            data = await self.reader.read(1 << 16)
            if not data:
                return None
            self._framer.feed(data)
            self._ready = list(self._framer.frames())
            self._ready.reverse()
        return self._ready.pop()

    def write_frames(self, payloads: Sequence[bytes]) -> None:
        self.writer.write(b"".join(Rfc4571Framer.frame(p) for p in payloads))

    async def drain(self) -> None:
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


class MediaEndpoint:
    """One end of the application-sharing media session."""

    def __init__(
        self, stream: FrameStream, *, role: str, rate_bps: int = 2_000_000, fps: float = 15.0,
        return_pps: float = 10.0, rtcp_interval: float = 1.0, ssrc: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"media role {role!r}: expected one of {ROLES}")
        if rate_bps < 0 or fps <= 0 or return_pps <= 0 or rtcp_interval <= 0:
            raise ValueError("media rates and intervals must be positive (rate_bps 0: as fast "
                             "as possible)")
        self.stream, self.role = stream, role
        self.rate_bps, self.fps, self.return_pps = rate_bps, fps, return_pps
        self.rtcp_interval = rtcp_interval
        self.clock = clock
        self.session = RtpSession(ssrc=secrets.randbits(32) if ssrc is None else ssrc,
                                  first_sequence=secrets.randbits(16),
                                  timestamp_base=secrets.randbits(32))
        self.malformed = 0
        self.ended: str | None = None

    def stats(self) -> MediaStats:
        """A snapshot of the statistics, at any time."""
        return replace(self.session.stats(self.clock()), malformed=self.malformed)

    async def run(self, duration: float) -> MediaStats:
        """Send for ``duration`` seconds while receiving; then stop sending, keep receiving a
        moment for the last packets in flight, and return the statistics."""
        async with asyncio.TaskGroup() as tg:
            rx = tg.create_task(self.receive())
            await self.send(duration)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.2, 2 * self.rtcp_interval)):
                    await asyncio.shield(rx)
            rx.cancel()
        return self.stats()

    async def receive(self) -> None:
        """Account for every frame until the stream ends."""
        while (frame := await self.stream.read_frame()) is not None:
            try:
                self.session.receive(frame, self.clock())
            except ParseError as exc:
                self.malformed += 1
                log.info("media: dropped a malformed frame: %s", exc)
        self.ended = "stream ended"

    async def send(self, duration: float) -> None:
        """Send media for ``duration`` seconds (paced, or saturating with ``rate_bps=0``)."""
        start = self.clock()
        end = start + duration
        next_rtcp = start
        try:
            if self.role == "sharer" and self.rate_bps == 0:
                await self._saturate(end)
                return
            src = self._source(start)
            while (now := self.clock()) < end:
                packets = [self.session.packet(f.payload, capture_time=f.capture_time,
                                               marker=f.marker) for f in src.due(now)]
                if now >= next_rtcp:
                    packets.append(self.session.sender_report(now))
                    next_rtcp = now + self.rtcp_interval
                if packets:
                    self.stream.write_frames(packets)
                    await self.stream.drain()
                wake = min(src.next_deadline(), next_rtcp, end)
                await asyncio.sleep(max(0.0, wake - self.clock()))
            self.stream.write_frames([self.session.sender_report(self.clock())])
            await self.stream.drain()
        except (ConnectionError, FramingError) as exc:
            self.ended = f"send failed: {exc}"
            log.info("media: %s", self.ended)

    def _source(self, start: float) -> TrafficSource:
        if self.role == "sharer":
            return sharer_source(self.rate_bps, start=start, fps=self.fps)
        return viewer_source(start=start, pps=self.return_pps)

    async def _saturate(self, end: float) -> None:
        """The sharer's benchmark mode: screen updates back to back, bounded by the path."""
        src = sharer_source(50_000_000, start=self.clock(), fps=self.fps)
        index, next_rtcp, batch = 0, self.clock(), []
        while (now := self.clock()) < end:
            for frag in src.fragments(index):
                batch.append(self.session.packet(frag.payload, capture_time=now,
                                                 marker=frag.marker))
            index += 1
            if now >= next_rtcp:
                batch.append(self.session.sender_report(now))
                next_rtcp = now + self.rtcp_interval
            if len(batch) >= SATURATE_BATCH:
                self.stream.write_frames(batch)
                batch = []
                await self.stream.drain()
        batch.append(self.session.sender_report(self.clock()))
        self.stream.write_frames(batch)
        await self.stream.drain()
