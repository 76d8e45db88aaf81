"""Synthetic application-sharing traffic, sans-I/O: what to send and when.

The sharer's stream imitates an RDP screen share: screen updates at a frame rate, a large
refresh every ``key_interval`` updates and smaller deltas in between, each update cut into RTP
payloads of at most ``max_payload`` octets that share one timestamp, the last one with the marker
bit (RFC 3550 §5.1). The sizes average to ``rate_bps``. The viewer's return traffic is a trickle
of small packets (input and acknowledgements). Payload bytes are deterministic pseudo-random data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

KEY_FACTOR: Final = 4  # a full refresh is this many times an average update
POOL_SIZE: Final = 1 << 16


@dataclass(frozen=True)
class Fragment:
    """One RTP payload to send: its frame's capture time and whether it ends the frame."""

    capture_time: float
    payload: bytes
    marker: bool


@dataclass
class TrafficSource:
    """Frames every ``1/fps`` seconds from ``start``, of ``frame_bytes(i)`` octets each."""

    rate_bps: int
    fps: float
    max_payload: int = 1200
    key_interval: int = 30
    seed: int = 1
    start: float = 0.0
    variation: float = 0.25
    next_index: int = 0
    _pool: bytes = field(init=False, repr=False)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rate_bps <= 0 or self.fps <= 0:
            raise ValueError("rate and frame rate must be positive")
        if not 16 <= self.max_payload <= 65000:
            raise ValueError("max_payload must be 16..65000 octets (RFC 4571 frames are < 64 KiB)")
        self._rng = random.Random(self.seed)  # noqa: S311 - traffic shaping, not security
        self._pool = self._rng.randbytes(POOL_SIZE)

    @property
    def mean_frame(self) -> float:
        return self.rate_bps / 8.0 / self.fps

    def frame_bytes(self, index: int) -> int:
        """Octets of update ``index``: refreshes are KEY_FACTOR x the mean, deltas the rest."""
        m, k = self.mean_frame, self.key_interval
        if k <= 1:
            base = m
        elif index % k == 0:
            base = KEY_FACTOR * m
        else:
            base = (k * m - KEY_FACTOR * m) / (k - 1) if k > KEY_FACTOR else m
        jitter = 1.0 + self.variation * (2.0 * self._rng.random() - 1.0)
        return max(1, round(base * jitter))

    def frame_time(self, index: int) -> float:
        return self.start + index / self.fps

    def next_deadline(self) -> float:
        return self.frame_time(self.next_index)

    def due(self, now: float) -> list[Fragment]:
        """Every fragment of every frame whose time has come, in order."""
        out: list[Fragment] = []
        while self.frame_time(self.next_index) <= now:
            out += self.fragments(self.next_index)
            self.next_index += 1
        return out

    def fragments(self, index: int) -> list[Fragment]:
        size = self.frame_bytes(index)
        when = self.frame_time(index)
        out: list[Fragment] = []
        offset = (index * 7919) % POOL_SIZE
        while size > 0:
            n = min(size, self.max_payload)
            out.append(Fragment(when, self._slice(offset, n), marker=(n == size)))
            offset = (offset + n) % POOL_SIZE
            size -= n
        return out

    def _slice(self, offset: int, n: int) -> bytes:
        end = offset + n
        if end <= POOL_SIZE:
            return self._pool[offset:end]
        return self._pool[offset:] + self._pool[:end - POOL_SIZE]


def sharer_source(rate_bps: int, *, start: float, fps: float = 15.0,
                  seed: int = 1) -> TrafficSource:
    """The sharer's screen updates (flow.md §3 step 33), ``rate_bps`` on average."""
    return TrafficSource(rate_bps, fps, start=start, seed=seed)


def viewer_source(*, start: float, pps: float = 10.0, size: int = 48,
                  seed: int = 2) -> TrafficSource:
    """The viewer's return trickle: ``pps`` small packets of about ``size`` octets."""
    return TrafficSource(int(size * 8 * pps), pps, max_payload=max(size * 2, 16), key_interval=1,
                         seed=seed, start=start, variation=0.1)
