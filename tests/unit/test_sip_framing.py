"""Stream framing (RFC 3261 §18.3) and keep-alives (RFC 5626 §3.5.1), fed byte by byte too."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.proto.sip.framing import Event, Frame, FramingError, Ping, Pong, SipStreamFramer
from lab.proto.sip.message import parse

DATA = Path(__file__).resolve().parent.parent / "data" / "sip" / "rfc4475"
WSINV = (DATA / "wsinv.dat").read_bytes()
ESC01 = (DATA / "esc01.dat").read_bytes()


def test_two_messages_and_keepalives_in_one_read() -> None:
    framer = SipStreamFramer()
    events: list[Event] = framer.feed(b"\r\n\r\n" + WSINV + b"\r\n" + ESC01)
    assert events == [Ping(), Frame(WSINV), Pong(), Frame(ESC01)]
    framer.ping_sent()
    assert framer.feed(b"\r\n") == [Pong()]
    assert framer.feed(b"\r\n") == [] and framer.feed(b"\r\n") == [Ping()]
    assert parse(events[1].data).call_id.startswith("wsinv")  # type: ignore[union-attr]


@given(st.lists(st.integers(1, 97), min_size=1, max_size=40))
def test_any_segmentation_gives_the_same_frames(cuts: list[int]) -> None:
    stream = WSINV + ESC01 + b"\r\n\r\n" + WSINV
    framer = SipStreamFramer()
    events: list[Event] = []
    pos = 0
    for cut in cuts * 100:
        if pos >= len(stream):
            break
        events += framer.feed(stream[pos:pos + cut])
        pos += cut
    events += framer.feed(stream[pos:])
    assert events == [Frame(WSINV), Frame(ESC01), Ping(), Frame(WSINV)]


def test_missing_content_length_on_a_stream_is_400() -> None:
    msg = WSINV.replace(b"Content-Length   : 150\r\n", b"")
    with pytest.raises(FramingError) as err:
        SipStreamFramer().feed(msg)
    assert err.value.status == 400 and err.value.head is not None
    assert parse(err.value.head + b"\r\n\r\n").call_id.startswith("wsinv")


def test_oversized_header_block_closes() -> None:
    framer = SipStreamFramer(max_header=1024)
    with pytest.raises(FramingError) as err:
        framer.feed(b"INVITE sip:a@b SIP/2.0\r\nX: " + b"a" * 2000)
    assert err.value.status is None


def test_oversized_body_is_413() -> None:
    with pytest.raises(FramingError) as err:
        SipStreamFramer(max_body=100).feed(WSINV)
    assert err.value.status == 413


def test_compact_content_length() -> None:
    msg = (DATA / "esc02.dat").read_bytes()  # uses "l: 0"
    assert SipStreamFramer().feed(msg) == [Frame(msg)]


@pytest.mark.parametrize("garbage", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on the TCP port
    b"\x00\x01\x00\x08\x21\x12\xa4\x42",  # a STUN Binding request
    b"INVITE sip:a@b\x00 SIP/2.0\r\n",  # a NUL in the start line
    b"HELLO\r\n",  # a line that is neither "Method SP" nor "SIP/"
    b" INVITE sip:a@b SIP/2.0\r\n",  # leading white space
])
def test_garbage_is_refused_at_once(garbage: bytes) -> None:
    with pytest.raises(FramingError, match="not a SIP start line") as err:
        SipStreamFramer().feed(garbage)
    assert err.value.status is None  # nothing to answer: close


def test_a_start_line_arriving_octet_by_octet_is_not_garbage() -> None:
    framer = SipStreamFramer()
    for octet in WSINV[:40]:
        assert framer.feed(bytes([octet])) == []
    assert framer.feed(WSINV[40:]) == [Frame(WSINV)]


def test_what_came_before_the_garbage_is_handed_over_with_the_error() -> None:
    # RFC 4475 §3.1.1.12: a REGISTER, then an INVITE whose body is 3 octets shorter than what
    # follows; on a stream those 3 octets ("C\r\n") cannot start a message
    data = (DATA / "dblreq.dat").read_bytes()
    with pytest.raises(FramingError, match="not a SIP start line") as err:
        SipStreamFramer().feed(data)
    frames = [e for e in err.value.events if isinstance(e, Frame)]
    assert [parse(f.data).cseq.method for f in frames] == ["REGISTER", "INVITE"]
    assert err.value.events[1] == Pong()  # the stray CRLF between them (§7.5)
