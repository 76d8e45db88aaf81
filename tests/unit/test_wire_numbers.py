"""Numbers from the wire go through one bounded parser (lab/proto/ascii.py): a field of more
than 4,300 digits, which Python's ``int()`` refuses with a plain ValueError, gets each codec's
declared parse error, and a non-ASCII digit is not a digit."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.ladder.messages import sip_info
from lab.proto.sdp import Candidate, SessionDescription
from lab.proto.sdp import ParseError as SdpParseError
from lab.proto.sip.cseq import CSeq
from lab.proto.sip.errors import ParseError as SipParseError
from lab.proto.sip.framing import FramingError, SipStreamFramer
from lab.proto.sip.message import parse
from lab.proto.sip.via import Via

HUGE = "1" * 5000
WSINV = (Path(__file__).resolve().parent.parent / "data" / "sip" / "rfc4475" / "wsinv.dat"
         ).read_bytes()


def test_bounded_int() -> None:
    from lab.proto.ascii import bounded_int  # noqa: PLC0415

    assert bounded_int("0068", 255) == 68 and bounded_int("0" * 5000 + "7", 9) == 7
    assert bounded_int("256", 255) is None and bounded_int(HUGE, 2**64) is None
    assert bounded_int("", 9) is None and bounded_int("٣", 9) is None
    assert bounded_int("-1", 9) is None and bounded_int(" 1", 9) is None


def test_sip_framing_content_length_of_5000_digits_is_413() -> None:
    msg = WSINV.replace(b"Content-Length   : 150", b"Content-Length: " + HUGE.encode())
    with pytest.raises(FramingError) as err:
        SipStreamFramer().feed(msg)
    assert err.value.status == 413


@pytest.mark.parametrize(("old", "new"), [
    (b"Content-Length   : 150", b"Content-Length: " + HUGE.encode()),
    (b"cseq: 0009", b"cseq: " + HUGE.encode()),
    (b"MaX-fOrWaRdS: 0068", b"Max-Forwards: " + HUGE.encode()),
    (b"192.0.2.2;branch", b"192.0.2.2:" + HUGE.encode() + b";branch"),
    (b"sip:vivekg@chair-dnrc.example.com;unknownparam",
     b"sip:vivekg@chair-dnrc.example.com:" + HUGE.encode()),
])
def test_sip_message_fields_of_5000_digits_raise_parse_error(old: bytes, new: bytes) -> None:
    assert old in WSINV
    with pytest.raises(SipParseError):
        msg = parse(WSINV.replace(old, new))
        (msg.content_length, msg.cseq, msg.max_forwards, msg.via)  # noqa: B018


def test_sip_headers_of_5000_digits_raise_parse_error() -> None:
    with pytest.raises(SipParseError):
        CSeq.parse(f"{HUGE} INVITE")
    with pytest.raises(SipParseError):
        Via.parse(f"SIP/2.0/TCP 192.0.2.1:{HUGE};branch=z9hG4bK1")
    with pytest.raises(SipParseError):
        parse(b"SIP/2.0 \xd9\xa3\xd9\xa3\xd9\xa3 OK\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("field", [1, 3, 5])
def test_sdp_candidate_numbers_of_5000_digits(field: int) -> None:
    parts = ["1", "1", "tcp", "2130706431", "10.0.0.1", "9", "typ", "host"]
    parts[field] = HUGE
    with pytest.raises(SdpParseError):
        Candidate.parse(" ".join(parts))
    with pytest.raises(SdpParseError):
        Candidate.parse("1 1 tcp 2130706431 10.0.0.1 9 typ srflx raddr 1.2.3.4 rport " + HUGE)


def test_sdp_media_port_of_5000_digits() -> None:
    with pytest.raises(SdpParseError):
        SessionDescription.parse(f"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"
                                 f"m=audio {HUGE} RTP/AVP 0\r\n")


def test_ladder_reads_a_capture_message_with_5000_digits() -> None:
    head = f"SIP/2.0 {HUGE} OK\r\nCSeq: {HUGE} INVITE\r\nContent-Length: 0\r\n\r\n"
    info = sip_info(head.encode())
    assert info.status is None and info.cseq == 0


@pytest.mark.parametrize("tail", ["raddr 1.2.3.4", "rport 9", "raddr 1.2.3.4 rport 9",
                                  "rport 9 raddr 1.2.3.4"])
def test_candidate_raddr_and_rport_round_trip_alone_or_together(tail: str) -> None:
    c = Candidate.parse(f"1 1 tcp 2130706431 10.0.0.1 9 typ srflx {tail}")
    assert Candidate.parse(str(c)) == c
    assert "None" not in str(c)


def test_sdp_parsing_is_linear_in_the_number_of_attribute_lines(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """9,000 a= lines in one m= section: the section is built once, not copied once per line
    (counted through ``dataclasses.replace``, not timed)."""
    import dataclasses  # noqa: PLC0415

    import lab.proto.sdp.codec as codec  # noqa: PLC0415

    lines = "".join(f"a=x-{i}:{'y' * 20}\r\n" for i in range(9000))
    text = f"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n{lines}"
    copies: list[object] = []

    def counting(obj: codec.MediaDescription, **kw: object) -> codec.MediaDescription:
        copies.append(obj)
        return dataclasses.replace(obj, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(codec, "replace", counting)
    sd = SessionDescription.parse(text)
    assert len(sd.media[0].attributes) == 9000
    assert len(copies) <= 2
