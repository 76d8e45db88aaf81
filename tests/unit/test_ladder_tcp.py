"""TCP as the ladder reads it (RFC 9293): reassembly in sequence order with duplicates, overlaps,
holes and wrap-around; connections told apart by ISN; each direction read from the interface
that saw it first; set-ups refused or never answered."""

from __future__ import annotations

from pathlib import Path

from lab.ladder.packets import TCP_ACK, TCP_RST, TCP_SYN, Segment
from lab.ladder.tcp import connections, reassemble

REQUEST = (Path(__file__).resolve().parent.parent / "data" / "stun" /
           "rfc5769-2.1-request.bin").read_bytes()
A, B = ("10.48.54.230", 33347), ("10.48.54.229", 3478)


def seg(frame: int, seq: int, data: bytes = b"", flags: int = TCP_ACK, *, src: tuple[str, int] = A,
        dst: tuple[str, int] = B, iface: str = "cms:eth0", ts: int | None = None,
        ack: int = 0) -> Segment:
    return Segment(frame, ts if ts is not None else frame * 1000, iface, 6, src[0], src[1],
                   dst[0], dst[1], data, seq % (1 << 32), ack, flags)


def test_out_of_order_duplicates_and_overlaps() -> None:
    d = REQUEST
    segs = [seg(1, 100, flags=TCP_SYN), seg(3, 141, d[40:80]), seg(2, 101, d[:40]),
            seg(4, 101, d[:40]), seg(5, 131, d[30:108])]
    chunks = reassemble(segs, 100)
    assert b"".join(c.data for c in chunks) == d
    assert [c.frame for c in chunks] == [2, 2, 5]  # frame 3 completes with frame 2
    assert not any(c.gap_before for c in chunks)


def test_a_hole_never_filled_is_a_gap() -> None:
    d = REQUEST
    chunks = reassemble([seg(1, 0, d[:20]), seg(2, 40, d[40:60])], None)
    assert [c.data for c in chunks] == [d[:20], d[40:60]]
    assert [c.gap_before for c in chunks] == [False, True]


def test_sequence_numbers_wrap() -> None:
    start = (1 << 32) - 10
    d = REQUEST
    chunks = reassemble([seg(1, start - 1, flags=TCP_SYN), seg(2, start, d[:30]),
                         seg(3, start + 30, d[30:])], start - 1)
    assert b"".join(c.data for c in chunks) == d


def test_directions_read_where_first_seen_and_seen_on_lists_every_interface() -> None:
    segs = [
        seg(1, 7, flags=TCP_SYN, ts=10, iface="cms:eth0"),
        seg(2, 7, flags=TCP_SYN, ts=12, iface="fw:p0"),
        seg(3, 900, src=B, dst=A, flags=TCP_SYN | TCP_ACK, ts=20, iface="fw:p0", ack=8),
        seg(4, 900, src=B, dst=A, flags=TCP_SYN | TCP_ACK, ts=22, iface="cms:eth0", ack=8),
        seg(5, 8, REQUEST, ts=30, iface="cms:eth0"), seg(6, 8, REQUEST, ts=32, iface="fw:p0"),
    ]
    result = connections(segs)
    [conn] = result.connections
    assert conn.client.port == 33347 and conn.established and conn.seen_on == ["cms:eth0",
                                                                                 "fw:p0"]
    up, down = result.streams[(0, "up")], result.streams[(0, "down")]
    assert up.iface == "cms:eth0" and down.iface == "fw:p0"
    assert [c.data for c in up.chunks] == [REQUEST]  # once, not once per interface
    assert conn.syn_ns == 10 and conn.syn_frame == 1


def test_a_reused_four_tuple_is_a_new_connection() -> None:
    first = [seg(1, 5, flags=TCP_SYN), seg(2, 50, src=B, dst=A, flags=TCP_SYN | TCP_ACK, ack=6),
             seg(3, 6, b"one")]
    second = [seg(4, 7000, flags=TCP_SYN),
              seg(5, 90, src=B, dst=A, flags=TCP_SYN | TCP_ACK, ack=7001), seg(6, 7001, b"two")]
    result = connections(first + second)
    assert len(result.connections) == 2
    assert [result.streams[(i, "up")].chunks[0].data for i in (0, 1)] == [b"one", b"two"]


def test_refused_and_unanswered_connects() -> None:
    refused = [seg(1, 5, flags=TCP_SYN), seg(2, 0, src=B, dst=A, flags=TCP_RST | TCP_ACK, ack=6)]
    silent = [seg(3, 9, flags=TCP_SYN, src=("10.48.54.230", 33348)),
              seg(4, 9, flags=TCP_SYN, src=("10.48.54.230", 33348))]
    result = connections(refused + silent)
    a, b = result.connections
    assert a.refused and not a.established and a.answered_on == ["cms:eth0"]
    assert not b.established and not b.refused and b.syns == 2 and b.answer_ns is None


def test_udp_is_kept_once_from_the_first_interface() -> None:
    udp = [Segment(i, i, iface, 17, "10.0.0.1", 3478, "10.0.0.2", 5000, b"x")
           for i, iface in ((1, "a:eth0"), (2, "b:eth0"), (3, "a:eth0"))]
    assert [s.frame for s in connections(udp).udp] == [1, 3]


def test_a_hole_in_the_senders_tap_is_filled_from_another_tap() -> None:
    """The sender's interface missed the middle segment (a capture drop), the firewall's
    bridge port saw all three: its copy of the middle one fills the hole, its other copies
    add nothing (also across the 2**32 wrap)."""
    start, d = (1 << 32) - 40, REQUEST
    parts = [(start, d[:30]), (start + 30, d[30:60]), (start + 60, d[60:])]
    syn = seg(1, start - 1, flags=TCP_SYN, ts=1)
    mine = [seg(2, parts[0][0], parts[0][1], ts=10), seg(4, parts[2][0], parts[2][1], ts=30)]
    bridge = [seg(10 + i, s, data, iface="fw:p0", ts=11 + 10 * i)
              for i, (s, data) in enumerate(parts)]
    bridge_syn = seg(9, start - 1, flags=TCP_SYN, ts=2, iface="fw:p0")
    result = connections([syn, bridge_syn, *mine, *bridge])
    up = result.streams[(0, "up")]
    assert up.iface == "cms:eth0"
    assert b"".join(c.data for c in up.chunks) == d
    assert not any(c.gap_before for c in up.chunks)
    assert up.frames == [1, 2, 11, 4]  # the bridge's middle copy, in time order
    assert connections([syn, *mine]).streams[(0, "up")].chunks[-1].gap_before  # without it
    assert connections([syn, bridge_syn, *mine, bridge[0], bridge[2]]).streams[
        (0, "up")].frames == [1, 2, 4]


def test_udp_a_datagram_the_first_tap_missed_comes_from_another() -> None:
    """a:eth0 (the sender) missed "z" and one of three identical retransmissions "r"."""
    def dgram(frame: int, iface: str, data: bytes) -> Segment:
        return Segment(frame, frame, iface, 17, "10.0.0.1", 3478, "10.0.0.2", 5000, data)

    udp = [dgram(1, "a:eth0", b"x"), dgram(2, "b:eth0", b"x"), dgram(3, "a:eth0", b"r"),
           dgram(4, "b:eth0", b"r"), dgram(5, "a:eth0", b"r"), dgram(6, "b:eth0", b"r"),
           dgram(7, "b:eth0", b"r"), dgram(8, "b:eth0", b"z"), dgram(9, "c:eth0", b"z")]
    assert [s.frame for s in connections(udp).udp] == [1, 3, 5, 7, 8]
