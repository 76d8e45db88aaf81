"""The four checks captured on the bridged path (tests/data/ice/README.md): framing, integrity
with the run's passwords, each message's attributes, and our encoder reproducing the Skype
side's 108-byte request byte for byte from its fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.proto.ice import CheckError, binding_request, parse_check_message, verify_request
from lab.proto.ice.checks import verify_response
from lab.proto.stun import (
    CandidateIdentifier,
    IceControlled,
    IceControlling,
    ImplementationVersion,
    MessageClass,
    Priority,
    Rfc4571Framer,
    UseCandidate,
    XorMappedAddress,
)
from tests.unit.test_ice_pairs import SKYPE

DATA = Path(__file__).resolve().parent.parent / "data" / "ice"
SFB = ("ezrg", "uasPuWiXLuY3xD12RfI+JHBl")
CMS = ("yJ3r", "NgMUnMJwL8f+9nTFVjXJRhcS")


def frame(name: str) -> bytes:
    framer = Rfc4571Framer()
    framer.feed((DATA / f"bridged-{name}.bin").read_bytes())
    payload = framer.next_frame()
    assert payload is not None and framer.buffered == 0
    return payload


def test_first_frame_is_the_tech_notes_00_6c_00_01() -> None:
    raw = (DATA / "bridged-1-request-sfb-to-cms.bin").read_bytes()
    assert raw[:4] == bytes.fromhex("006c0001") and len(raw) == 2 + 108


def test_sfb_request_verifies_with_cms_password_and_reencodes_exactly() -> None:
    raw = frame("1-request-sfb-to-cms")
    msg = parse_check_message(raw)
    check = verify_request(raw, msg, local_ufrag=CMS[0], local_pwd=CMS[1])
    assert check.controlling and check.use_candidate
    assert check.priority == (110 << 24) | (174848511 & 0xFFFFFF)  # the relay TCP-ACT candidate
    assert msg.get(ImplementationVersion) == ImplementationVersion(3)
    assert msg.get(CandidateIdentifier) == CandidateIdentifier(b"4\x00\x00\x00")
    tie = msg.get(IceControlling)
    assert tie is not None
    again = binding_request(
        local_ufrag=SFB[0], remote_ufrag=CMS[0], remote_pwd=CMS[1], local=SKYPE[6],
        controlling=True, tie_breaker=tie.value, use_candidate=True, ms_ice2=True,
        transaction_id=msg.transaction_id)
    assert again == raw


def test_sfb_request_refused_with_the_wrong_password() -> None:
    raw = frame("1-request-sfb-to-cms")
    with pytest.raises(CheckError) as err:
        verify_request(raw, parse_check_message(raw), local_ufrag=CMS[0], local_pwd=SFB[1])
    assert err.value.code == 401


def test_cms_answer_and_triggered_check() -> None:
    ok = frame("2-success-cms-to-sfb")
    msg = parse_check_message(ok)
    assert msg.cls is MessageClass.SUCCESS
    verify_response(ok, remote_pwd=CMS[1])  # the Skype side checks it with CMS's password
    assert msg.get(XorMappedAddress) == XorMappedAddress("192.168.1.252", 53577)
    req = frame("3-request-cms-to-sfb")
    back = parse_check_message(req)
    check = verify_request(req, back, local_ufrag=SFB[0], local_pwd=SFB[1])
    assert not check.controlling and not check.use_candidate
    assert back.has(IceControlled) and not back.has(UseCandidate)
    prio = back.get(Priority)
    assert prio is not None and prio.value >> 24 == 110  # CMS's relay candidate as prflx


def test_sfb_answer_closes_the_exchange() -> None:
    ok = frame("4-success-sfb-to-cms")
    msg = parse_check_message(ok)
    verify_response(ok, remote_pwd=SFB[1])
    assert msg.get(XorMappedAddress) == XorMappedAddress("192.168.1.229", 24000)
    assert msg.get(ImplementationVersion) == ImplementationVersion(3)
    with pytest.raises(CheckError):
        verify_response(ok, remote_pwd=CMS[1])


@pytest.mark.parametrize("cut", [0, 1, 20, 107])
def test_truncated_or_garbled_frames_are_dropped(cut: int) -> None:
    raw = frame("1-request-sfb-to-cms")
    with pytest.raises(CheckError) as err:
        parse_check_message(raw[:cut] + b"\xff" * (108 - cut - 1))
    assert err.value.code == 0  # dropped, not answered (RFC 5389 §7.3)
