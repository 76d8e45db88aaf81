"""RTP and RTCP codecs: exact bytes, round trips, and the one declared error on garbage."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.proto.rtp import (
    ParseError,
    ReceiverReport,
    ReportBlock,
    RtcpOther,
    RtpExtension,
    RtpPacket,
    SenderReport,
    is_rtcp,
    ntp_from_unix,
    ntp_middle,
    parse_rtcp,
    parse_rtp,
)

# V=2, M=1, PT=127, seq=0x1234, ts=0x01020304, ssrc=0xdeadbeef, payload "hi"
SHARE_PACKET = bytes.fromhex("80ff1234" "01020304" "deadbeef") + b"hi"


def test_rtp_exact_bytes() -> None:
    pkt = RtpPacket(127, 0x1234, 0x01020304, 0xDEADBEEF, b"hi", marker=True)
    assert pkt.encode() == SHARE_PACKET
    parsed = parse_rtp(SHARE_PACKET)
    assert parsed == pkt
    assert parsed.marker and parsed.payload_type == 127


def test_rtp_with_csrc_extension_and_padding() -> None:
    ext = RtpExtension(0xBEDE, b"\x10\xff\x00\x00")
    pkt = RtpPacket(96, 1, 2, 3, b"abc", csrc=(7, 8), extension=ext, padding=3)
    data = pkt.encode()
    assert data[0] == 0x80 | 0x20 | 0x10 | 2
    assert data[-1] == 3 and len(data) == 12 + 8 + 8 + 3 + 3
    assert parse_rtp(data) == pkt


@given(pt=st.integers(0, 127).filter(lambda p: not 72 <= p <= 76), seq=st.integers(0, 0xFFFF),
       ts=st.integers(0, 0xFFFFFFFF), ssrc=st.integers(0, 0xFFFFFFFF),
       payload=st.binary(max_size=200), marker=st.booleans(),
       csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15), padding=st.integers(0, 255))
def test_rtp_round_trip(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool,
                        csrc: list[int], padding: int) -> None:
    pkt = RtpPacket(pt, seq, ts, ssrc, payload, marker, tuple(csrc), padding=padding)
    assert parse_rtp(pkt.encode()) == pkt


@pytest.mark.parametrize(("data", "message"), [
    (b"\x80\xff\x00", "shorter than the 12-byte header"),
    (bytes.fromhex("40ff123401020304deadbeef"), "RTP version 1"),
    (bytes.fromhex("83ff123401020304deadbeef00000001"), "CSRC"),
    (bytes.fromhex("90ff123401020304deadbeef00010005"), "header extension of 5 words"),
    (bytes.fromhex("a0ff123401020304deadbeef00"), "padding count 0"),
    (bytes.fromhex("a0ff123401020304deadbeef09"), "padding count 9"),
    (bytes.fromhex("80c8123401020304deadbeef"), "is RTCP"),
])
def test_rtp_garbage(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_rtp(data)


@given(st.binary(max_size=64))
def test_rtp_garbage_only_parse_error(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse_rtp(data)


def test_rtcp_sr_exact_and_round_trip() -> None:
    block = ReportBlock(0x11111111, 5, -3, 70000, 120, 0xAABBCCDD, 65536)
    sr = SenderReport(0x22222222, 0x0102030405060708, 9, 10, 11, (block,))
    data = sr.encode()
    # RFC 3550 §6.4.1: V=2 RC=1 PT=200, length = 12 words (52 bytes) - 1
    assert data[:4] == bytes.fromhex("81c8000c")
    assert len(data) == 52
    assert data[32:36] == bytes.fromhex("05fffffd")  # fraction 5, cumulative lost -3 (24-bit)
    assert parse_rtcp(data) == [sr]


def test_rtcp_compound_with_rr_and_sdes() -> None:
    rr = ReceiverReport(1, ())
    sdes = bytes.fromhex("81ca0003") + bytes.fromhex("00000001010474657374") + b"\x00\x00"
    packets = parse_rtcp(rr.encode() + sdes)
    assert packets[0] == rr
    assert isinstance(packets[1], RtcpOther) and packets[1].packet_type == 202


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (bytes.fromhex("81c8"), "truncated"),
    (bytes.fromhex("41c80000"), "version 1"),
    (bytes.fromhex("81c80010"), "runs past"),
    (bytes.fromhex("81c9000100000001"), "needs 28 bytes"),
])
def test_rtcp_garbage(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_rtcp(data)


def test_demultiplexing_rfc5761() -> None:
    assert is_rtcp(SenderReport(1, 0, 0, 0, 0).encode())
    assert is_rtcp(ReceiverReport(1).encode())
    assert not is_rtcp(SHARE_PACKET)
    assert not is_rtcp(bytes.fromhex("0001006c2112a442"))  # a STUN Binding request


def test_ntp_conversion() -> None:
    ntp = ntp_from_unix(0.5)
    assert ntp >> 32 == 2_208_988_800 and ntp & 0xFFFFFFFF == 1 << 31
    assert ntp_middle(ntp) == ((2_208_988_800 & 0xFFFF) << 16) | 0x8000


@given(st.one_of(st.binary(max_size=120), st.binary(max_size=120).map(
    lambda b: bytes([0x80 | (b[0] & 0x1F) if b else 0x80, 200 + (b[1] % 5 if len(b) > 1 else 0)])
    + b[2:])))
def test_rtcp_garbage_only_parse_error(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse_rtcp(data)
