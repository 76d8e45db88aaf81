"""Stream framers: plain STUN on TCP (with ChannelData) and RFC 4571, split anywhere, capped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.proto.stun import (
    ConnectionId,
    Message,
    Method,
    ParseError,
    Rfc4571Framer,
    StunStreamFramer,
    channel_data,
    is_channel_data,
    parse,
)


def stun(n: int) -> bytes:
    return Message.request(Method.BINDING, [ConnectionId(n)]).encode(fingerprint=True)


@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.data())
@settings(max_examples=100)
def test_stun_stream_any_split(ids: list[int], data: st.DataObject) -> None:
    stream = b"".join(stun(i) for i in ids)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    framer = StunStreamFramer()
    out: list[bytes] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        framer.feed(stream[prev:cut])
        prev = cut
        out.extend(framer.frames())
    assert [parse(f).get(ConnectionId) for f in out] == [ConnectionId(i) for i in ids]
    assert framer.buffered == 0


def test_stun_stream_stops_after_one_frame_and_hands_back_the_rest() -> None:
    """After ConnectionBind the rest of the stream is raw data (RFC 6062 §4.3)."""
    framer = StunStreamFramer()
    framer.feed(stun(1) + b"\xffraw relayed bytes")
    first = framer.next_frame()
    assert first is not None and parse(first).get(ConnectionId) == ConnectionId(1)
    assert framer.take_buffered() == b"\xffraw relayed bytes"
    assert framer.buffered == 0


def test_channel_data_frames_are_padded_on_tcp() -> None:
    framer = StunStreamFramer(channel_data=True)
    framer.feed(b"\x40\x00\x00\x05hello\x00\x00\x00" + stun(2))
    frames = list(framer.frames())
    assert is_channel_data(frames[0]) and frames[0][:9] == b"\x40\x00\x00\x05hello"
    assert len(frames[0]) == 12 and not is_channel_data(frames[1])
    assert channel_data(0x4000, b"hello") == frames[0]


def test_channel_data_of_rfc_5766s_upper_range_is_framed_too() -> None:
    framer = StunStreamFramer(channel_data=True)  # coturn's uclient binds up to 0x7FFF
    framer.feed(channel_data(0x6C36, b"abcd") + channel_data(0x7FFF, b""))
    assert list(framer.frames()) == [b"\x6c\x36\x00\x04abcd", b"\x7f\xff\x00\x00"]
    framer = StunStreamFramer(channel_data=True)
    framer.feed(b"\x80\x00\x00\x00")
    with pytest.raises(ParseError, match="first byte 0x80"):
        framer.next_frame()


def test_channel_data_only_when_the_connection_may_carry_it() -> None:
    """A TURN server's control connection without a UDP allocation: bytes that start like
    ChannelData (an HTTP request: 'G' is 0x47) are garbage at once, not a frame to wait for."""
    allowed = False
    framer = StunStreamFramer(channel_data=lambda: allowed)
    framer.feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(ParseError, match="not STUN: first byte 0x47"):
        framer.next_frame()
    allowed = True
    framer = StunStreamFramer(channel_data=lambda: allowed)
    framer.feed(channel_data(0x4001, b"x"))
    assert framer.next_frame() == b"\x40\x01\x00\x01x\0\0\0"


@pytest.mark.parametrize(("data", "text"), [
    (b"\x80", "not STUN: first byte 0x80"),
    (b"G", "not STUN: first byte 0x47"),
    (b"\x40\x00\x00\x04", "not STUN: first byte 0x40"),
    (b"\x00\x01\x00\x02", "not a multiple of 4"),
    (b"\x00\x01\x00\x00\x21\x12\xa4\x43", "wrong magic cookie"),
    (b"\x00\x01\xff\xfc", "exceeds the cap of 1000"),
])
def test_stun_stream_garbage(data: bytes, text: str) -> None:
    framer = StunStreamFramer(max_size=1000)
    framer.feed(data)
    with pytest.raises(ParseError, match=text):
        framer.next_frame()


@given(st.lists(st.binary(max_size=300), max_size=6), st.data())
@settings(max_examples=100)
def test_rfc4571_any_split(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(Rfc4571Framer.frame(p) for p in payloads)
    framer = Rfc4571Framer()
    out: list[bytes] = []
    step = data.draw(st.integers(1, 50))
    for i in range(0, len(stream), step):
        framer.feed(stream[i:i + step])
        out.extend(framer.frames())
    assert out == payloads


def test_rfc4571_seed_binding_request_prefix() -> None:
    """flow.md: the ICE payload begins 00 6c 00 01 (length 108, then Binding Request)."""
    body = bytes(Message.request(Method.BINDING).encode()) + b"\x00" * 88
    framed = Rfc4571Framer.frame(body)
    assert framed[:4] == b"\x00\x6c\x00\x01"


def test_rfc4571_cap() -> None:
    framer = Rfc4571Framer(max_size=100)
    framer.feed(b"\x00\x65")
    with pytest.raises(ParseError, match="101 bytes exceeds the cap of 100"):
        framer.next_frame()
    with pytest.raises(ValueError, match="exceeds 65535"):
        Rfc4571Framer.frame(b"\x00" * 70000)
