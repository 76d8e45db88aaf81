"""Cutting TCP byte streams into messages with real bytes: the RFC 5769 Binding request plain
(TURN control connection) and RFC 4571-framed (``00 6c 00 01``, the tech note's ICE check),
the switch to relayed data after ConnectionBind (RFC 6062 §4.4), SIP, TLS, UDP datagrams."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.ladder.streams import StreamDecoder, classify, datagram_unit
from lab.proto.rtp import RtpPacket
from lab.proto.stun import ConnectionId, Message, Method, Rfc4571Framer

STUN = Path(__file__).resolve().parent.parent / "data" / "stun"
REQUEST = (STUN / "rfc5769-2.1-request.bin").read_bytes()
RESPONSE = (STUN / "rfc5769-2.2-ipv4-response.bin").read_bytes()
SIP = (b"OPTIONS sip:cms@10.48.54.230 SIP/2.0\r\nVia: SIP/2.0/TCP 10.48.54.227;branch=z9hG4bK1\r\n"
       b"From: <sip:c@vc.lab>;tag=1\r\nTo: <sip:cms@vc.lab>\r\nCall-ID: a@b\r\nCSeq: 1 OPTIONS\r\n"
       b"Max-Forwards: 70\r\nContent-Length: 4\r\n\r\nbody")


def _feed_all(data: bytes, cut: int | None = None) -> tuple[StreamDecoder, list[object]]:
    dec = StreamDecoder()
    units: list[object] = []
    if cut is None:
        units += dec.feed(data)
    else:
        units += dec.feed(data[:cut])
        units += dec.feed(data[cut:])
    return dec, units


def test_rfc5769_request_is_108_bytes_framed_00_6c_00_01() -> None:
    framed = Rfc4571Framer.frame(REQUEST)
    assert framed[:4] == bytes.fromhex("006c0001")
    dec = StreamDecoder()
    [unit] = dec.feed(framed)
    assert unit.kind == "stun" and unit.framing == "RFC 4571" and unit.head == framed[:4]
    assert unit.stun is not None and unit.stun.method == Method.BINDING
    assert dec.protocols == ["rfc4571"]


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 20, 50, 107, 109, 150])
def test_any_segment_boundary_gives_the_same_messages(cut: int) -> None:
    data = Rfc4571Framer.frame(REQUEST) + Rfc4571Framer.frame(RESPONSE)
    _dec, units = _feed_all(data, cut)
    assert [u.stun.transaction_id for u in units] == [  # type: ignore[attr-defined]
        REQUEST[8:20], RESPONSE[8:20]]


def test_plain_stun_then_relayed_frames_after_connection_bind() -> None:
    bind = Message.request(Method.CONNECTION_BIND, [ConnectionId(7)]).encode()
    rtp = RtpPacket(127, 1, 90000, 0x1234, b"share").encode()
    stream = bind + Rfc4571Framer.frame(REQUEST) + Rfc4571Framer.frame(rtp)
    dec, units = _feed_all(stream, len(bind) + 1)
    kinds = [(u.kind, u.framing) for u in units]  # type: ignore[attr-defined]
    assert kinds == [("stun", ""), ("stun", "RFC 4571"), ("rtp", "RFC 4571")]
    assert dec.protocols == ["stun", "rfc4571"]


def test_sip_and_keepalives() -> None:
    dec = StreamDecoder()
    units = dec.feed(b"\r\n\r\n" + SIP[:30]) + dec.feed(SIP[30:] + SIP)
    assert [u.kind for u in units] == ["sip", "sip"] and units[0].data == SIP
    assert dec.protocols == ["sip"]


def test_tls_is_left_to_tshark_and_garbage_is_opaque() -> None:
    dec = StreamDecoder()
    assert dec.feed(bytes.fromhex("160301020001") + b"\x00" * 40) == []
    assert dec.mode == "tls"
    junk = StreamDecoder()
    assert junk.feed(b"\x01\x02garbage that is nothing at all\n") == []
    assert junk.mode == "opaque" and junk.opaque_octets > 0


def test_a_gap_restarts_detection() -> None:
    dec = StreamDecoder()
    assert dec.feed(Rfc4571Framer.frame(REQUEST)[:50]) == []
    [unit] = dec.feed(Rfc4571Framer.frame(RESPONSE), gap=True)
    assert unit.stun is not None and unit.stun.transaction_id == RESPONSE[8:20]


@pytest.mark.parametrize(("data", "kind"), [
    (REQUEST, "stun"), (bytes([0x40, 0x00, 0x00, 0x04]) + b"data", "channeldata"),
    (RtpPacket(127, 5, 1, 2, b"x").encode(), "rtp"), (SIP, "sip"),
    (bytes([0x81, 200, 0, 1]) + b"\0" * 4, "rtcp"),
])
def test_datagrams(data: bytes, kind: str) -> None:
    unit = datagram_unit(data)
    assert unit is not None and unit.kind == kind


def test_unknown_datagram_is_ignored_and_classify_waits_for_bytes() -> None:
    assert datagram_unit(b"\x00\x01\x02") is None
    assert classify(b"\x00\x6c") is None  # too short to say
    assert classify(b"INVITE sip:x") is None  # a start line not finished yet



#: STUN to the classifier (first bits, magic cookie) but not to the framer: a length that is not
#: a multiple of 4 (RFC 8489 §5)
NOT_QUITE_STUN = bytes.fromhex("00010003") + bytes.fromhex("2112a442") + b"\0" * 12 + b"abc"


@pytest.mark.timeout(10)
@pytest.mark.parametrize("before", [b"", REQUEST], ids=["at-start", "after-a-message"])
def test_bytes_the_framer_refuses_become_opaque_instead_of_a_hang(before: bytes) -> None:
    """A corrupted customer capture: the classifier and the framer disagree at a message
    boundary. The decoder must not hand the same bytes from one to the other forever."""
    dec = StreamDecoder()
    units = dec.feed(before + NOT_QUITE_STUN)
    assert [u.stun.transaction_id for u in units if u.stun] == ([REQUEST[8:20]] if before else [])
    assert dec.mode == "opaque" and dec.opaque_octets == len(NOT_QUITE_STUN)
    assert dec.feed(b"more") == [] and dec.opaque_octets == len(NOT_QUITE_STUN) + 4
