"""Faults made from a real capture: cut it at a moment, drop one connection's packets, move
frames in time. The bytes stay the captured ones (tests/data/ladder/README.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

from lab.capture import Capture, Packet, read_capture
from lab.ladder import Ladder, Names, build_ladder, make_names
from lab.ladder.packets import Segment, segments

DATA = Path(__file__).resolve().parent / "data" / "ladder"
FLOW = DATA / "seed-flow-tcp.pcapng"

#: flow.md §1 addresses of the capture's network (tests/interop/ladderflow.py).
EDGE_OUT, EDGE_IN = "192.168.1.252", "10.149.4.10"
EXPE_OUT, EXPE_IN, EXPC, CMS = "192.168.1.229", "10.48.54.229", "10.48.54.227", "10.48.54.230"


def names() -> Names:
    return make_names({"sfb": [EDGE_OUT, EDGE_IN], "expressway-e": [EXPE_OUT, EXPE_IN],
                       "expressway-c": [EXPC], "cms": [CMS]}, source="test")


@cache
def _flow() -> Capture:
    return read_capture(FLOW)


def flow() -> Capture:
    """A fresh copy of the seed-flow capture (safe to change)."""
    cap = _flow()
    return dataclasses.replace(cap, interfaces=list(cap.interfaces), packets=list(cap.packets))


@cache
def flow_ladder() -> Ladder:
    return build_ladder(flow(), names=names())


def by_frame(cap: Capture) -> dict[int, Segment]:
    return {s.frame: s for s in segments(cap)}


def renumber(cap: Capture, packets: Iterable[Packet]) -> Capture:
    """``cap`` with ``packets`` (re-sorted by time, renumbered from 1)."""
    pkts = sorted(packets, key=lambda p: p.ts_ns)
    out = [dataclasses.replace(p, number=i + 1) for i, p in enumerate(pkts)]
    return dataclasses.replace(cap, packets=out)


def drop(cap: Capture, pred: Callable[[Segment], bool]) -> Capture:
    segs = by_frame(cap)
    keep = [p for p in cap.packets if not (p.number in segs and pred(segs[p.number]))]
    return renumber(cap, keep)


def cut_after(cap: Capture, ts_ns: int) -> Capture:
    return renumber(cap, [p for p in cap.packets if p.ts_ns <= ts_ns])


def move(cap: Capture, frames: set[int], ts_ns: int) -> Capture:
    """Give ``frames`` the time ``ts_ns`` (as if they had been sent then)."""
    return renumber(cap, [dataclasses.replace(p, ts_ns=ts_ns) if p.number in frames else p
                          for p in cap.packets])


def same_message(cap: Capture, frame: int) -> set[int]:
    """The frames that carry the same TCP segment as ``frame`` on every interface."""
    segs = by_frame(cap)
    ref = segs[frame]
    return {n for n, s in segs.items()
            if (s.src, s.sport, s.dst, s.dport, s.seq, s.payload) ==
            (ref.src, ref.sport, ref.dst, ref.dport, ref.seq, ref.payload)}


def conn_pred(a: tuple[str, int], b: tuple[str, int]) -> Callable[[Segment], bool]:
    """Segments of the TCP connection between endpoints ``a`` and ``b``."""
    ends = {a, b}
    return lambda s: s.proto == 6 and {(s.src, s.sport), (s.dst, s.dport)} == ends
