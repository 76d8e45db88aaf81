"""SDP codec (RFC 4566), candidate syntax (RFC 5245 §15.1, RFC 6544 §4.5, MS-ICE2), priorities."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.proto.sdp import (
    Candidate,
    ParseError,
    SessionDescription,
    ms_local_preference,
    ms_priority,
    rfc5245_priority,
)

RFC6544 = "1 1 TCP 2128609279 10.0.1.1 9 typ host tcptype active"


def test_rfc6544_tcptype_on_input() -> None:
    c = Candidate.parse(RFC6544)
    assert (c.transport, c.port, c.tcptype, c.direction) == ("TCP", 9, "active", "active")
    assert str(c) == RFC6544


def test_ms_transport_tokens_give_the_direction() -> None:
    c = Candidate.parse("3 1 TCP-PASS 174455807 192.168.1.252 53577 typ relay "
                        "raddr 10.149.4.201 rport 65417")
    assert (c.direction, c.raddr, c.rport, c.is_tcp) == ("passive", "10.149.4.201", 65417, True)
    assert Candidate.parse("1 1 UDP 2130706431 10.0.0.1 5000 typ host").direction is None


@pytest.mark.parametrize("bad", [
    "1 1 TCP-PASS 5 10.0.0.1 18027 typ",            # too short
    "1 1 TCP-PASS 5 10.0.0.1 18027 kind host",      # no typ
    "1 1 TCP-PASS 5 10.0.0.1 99999 typ host",       # port range
    "1 0 TCP-PASS 5 10.0.0.1 1 typ host",           # component 0
    "1 1 TCP-PASS x 10.0.0.1 1 typ host",           # priority
    "1 1 TCP 5 10.0.0.1 9 typ host tcptype sideways",
    "1 1 TCP 5 10.0.0.1 9 typ host raddr",          # extension without value
    "1 1 TCP 5 10.0.0.1 9 typ wormhole",
])
def test_bad_candidates(bad: str) -> None:
    with pytest.raises(ParseError):
        Candidate.parse(bad)


def test_priority_formula_and_ms_layout() -> None:
    assert rfc5245_priority(126, 65535, 1) == 2130706431
    assert rfc5245_priority(20, 65535, 1) == 352321535
    assert ms_local_preference("passive", 511) == 0x6000 + 0x400 + 511
    # the three values flow.md corrected from the OCR, by arithmetic
    assert ms_priority("relay", "passive", 2, 2) == 174455294
    assert ms_priority("relay", "active", 3, 1) == 174848511
    assert ms_priority("srflx", "active", 4, 2) == 1684796926
    for i in range(5):
        for d in ("passive", "active"):
            assert ms_priority("host", d, i, 1) - ms_priority("host", d, i, 2) == 513
    with pytest.raises(ValueError):
        rfc5245_priority(127, 0, 1)
    with pytest.raises(ValueError):
        ms_local_preference("sideways", 1)


candidates = st.builds(
    Candidate,
    foundation=st.text("abc123+/", min_size=1, max_size=8),
    component=st.integers(1, 256),
    transport=st.sampled_from(["UDP", "TCP", "TCP-PASS", "TCP-ACT"]),
    priority=st.integers(1, 2**31 - 1),
    address=st.ip_addresses(v=4).map(str),
    port=st.integers(0, 65535),
    typ=st.sampled_from(["host", "srflx", "prflx", "relay"]),
    raddr=st.none(),
    rport=st.none(),
    tcptype=st.sampled_from([None, "active", "passive", "so"]),
)


@given(candidates)
def test_candidate_round_trip(c: Candidate) -> None:
    assert Candidate.parse(str(c)) == c


SDP = (
    "v=0\r\no=- 20518 0 IN IP4 203.0.113.1\r\ns= \r\nc=IN IP4 203.0.113.1\r\nb=CT:99980\r\n"
    "t=0 0\r\na=ice-lite\r\nm=audio 54400 RTP/SAVPF 0 96\r\nb=AS:64\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=sendrecv\r\nm=video 55400 RTP/SAVPF 97\r\nc=IN IP4 203.0.113.2\r\na=rtpmap:97 H264/90000\r\n"
)


def test_sdp_round_trip_and_accessors() -> None:
    sd = SessionDescription.parse(SDP)
    assert str(sd) == SDP
    assert [m.media for m in sd.media] == ["audio", "video"]
    assert sd.media[0].get("rtpmap") == "0 PCMU/8000" and sd.media[0].has("sendrecv")
    assert sd.media[1].connection is not None
    assert SessionDescription.parse(SDP.replace("\r\n", "\n")) == sd


@pytest.mark.parametrize(("text", "where"), [
    ("o=- 1 1 IN IP4 1.2.3.4\r\n", "line 1"),
    ("v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n", "line 2"),
    ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio x RTP/AVP 0\r\n", "line 4"),
    ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\nt=0 0\r\n", "line 5"),
    ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nbogus\r\n", "line 3"),
    ("v=0\r\ns=-\r\n", "missing o="),
])
def test_bad_sdp_names_the_line(text: str, where: str) -> None:
    with pytest.raises(ParseError, match=where):
        SessionDescription.parse(text)


_sdp_lines = st.one_of(
    st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=40),
    st.sampled_from([
        "v=0", "v=1", "o=- 1 1 IN IP4 1.2.3.4", "o=", "o=- x y IN IP4", "s=-", "t=0 0",
        "c=IN IP4 1.2.3.4", "c=IN", "b=AS:x", "m=audio 1 RTP/AVP 0", "m=x", "m=audio x RTP 0",
        "m=applicationsharing 51577 TCP/RTP/AVP 127", "a=rtpmap:0 x", "a=ice-ufrag:x",
        "a=candidate:1 1 TCP-PASS 1 1.2.3.4 5 typ host", "a=candidate:x",
        "a=candidate:1 1 TCP-ACT 2 1.2.3.4 99999 typ relay raddr x rport y", "a=", "=x"]))


@given(st.one_of(st.text(max_size=200), st.lists(_sdp_lines, max_size=12).map("\r\n".join),
                 st.binary(max_size=120)))
@settings(max_examples=500, deadline=None)
def test_sdp_garbage_raises_only_parse_error(text: str | bytes) -> None:
    """Peer garbage gives the codec's one declared error (architecture.md "Errors")."""
    with contextlib.suppress(ParseError):
        SessionDescription.parse(text)


@given(st.one_of(st.text(max_size=120), candidates.map(str).flatmap(
    lambda c: st.tuples(st.just(c), st.integers(0, len(c)), st.text(max_size=8)).map(
        lambda t: t[0][:t[1]] + t[2] + t[0][t[1]:]))))
@settings(max_examples=500, deadline=None)
def test_candidate_garbage_raises_only_parse_error(text: str) -> None:
    with contextlib.suppress(ParseError):
        Candidate.parse(text)


def test_only_ascii_digits_are_numbers() -> None:
    """Found by the property test above: "²" passed str.isdigit() and then broke int()."""
    for text in ("0 1 0 \u00b2 0 0 typ host", "1 1 TCP-PASS \u0663 10.0.0.1 9 typ host"):
        with pytest.raises(ParseError, match="not a number"):
            Candidate.parse(text)
