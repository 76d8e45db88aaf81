"""RFC 5769 test vectors, byte for byte: parse, verify, and re-encode from typed attributes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.proto.stun import (
    IceControlled,
    Message,
    MessageClass,
    MessageIntegrity,
    Method,
    Nonce,
    Priority,
    Realm,
    Software,
    Username,
    XorMappedAddress,
    long_term_key,
    parse,
    saslprep,
    short_term_key,
    verify_fingerprint,
    verify_integrity,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "stun"
SHORT_KEY = short_term_key("VOkJxbRl1RmTxUk/WvJxBt")
TID = bytes.fromhex("b7e7a701bc34d686fa87dfae")


def vector(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_request_2_1_parses_and_verifies() -> None:
    raw = vector("rfc5769-2.1-request.bin")
    msg = parse(raw)
    assert (msg.method, msg.cls, msg.transaction_id) == (Method.BINDING, MessageClass.REQUEST, TID)
    assert msg.get(Software) == Software("STUN test client")
    assert msg.get(Priority) == Priority(0x6E0001FF)
    assert msg.get(IceControlled) == IceControlled(0x932FF9B151263B36)
    assert msg.get(Username) == Username("evtj:h6vY")
    assert verify_integrity(raw, SHORT_KEY)
    assert not verify_integrity(raw, short_term_key("wrong"))
    assert verify_fingerprint(raw)


def test_request_2_1_encodes_byte_for_byte() -> None:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TID, (
        Software("STUN test client"), Priority(0x6E0001FF), IceControlled(0x932FF9B151263B36),
        Username("evtj:h6vY"),
    ))
    assert msg.encode(integrity_key=SHORT_KEY, fingerprint=True, padding=0x20) == vector(
        "rfc5769-2.1-request.bin"
    )


@pytest.mark.parametrize(("name", "host"), [
    ("rfc5769-2.2-ipv4-response.bin", "192.0.2.1"),
    ("rfc5769-2.3-ipv6-response.bin", "2001:db8:1234:5678:11:2233:4455:6677"),
])
def test_responses_2_2_and_2_3(name: str, host: str) -> None:
    raw = vector(name)
    msg = parse(raw)
    assert msg.cls is MessageClass.SUCCESS
    assert msg.get(XorMappedAddress) == XorMappedAddress(host, 32853)
    assert verify_integrity(raw, SHORT_KEY) and verify_fingerprint(raw)
    built = Message(Method.BINDING, MessageClass.SUCCESS, TID,
                    (Software("test vector"), XorMappedAddress(host, 32853)))
    assert built.encode(integrity_key=SHORT_KEY, fingerprint=True, padding=0x20) == raw
    assert msg.encode(padding=0x20) == raw


def test_long_term_2_4() -> None:
    raw = vector("rfc5769-2.4-long-term-request.bin")
    user = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"
    password = "The\u00adM\u00aatr\u2168"
    assert saslprep(password) == "TheMatrIX"
    key = long_term_key(user, "example.org", password)
    msg = parse(raw)
    assert msg.get(Username) == Username(user)
    assert msg.get(Nonce) == Nonce(b"f//499k954d6OL34oL9FSTvy64sA")
    assert msg.get(Realm) == Realm("example.org")
    assert verify_integrity(raw, key)
    assert not verify_fingerprint(raw)
    built = Message(Method.BINDING, MessageClass.REQUEST, raw[8:20],
                    (Username(user), Nonce(b"f//499k954d6OL34oL9FSTvy64sA"), Realm("example.org")))
    assert built.encode(integrity_key=key) == raw
    assert msg.encode() == raw
    assert isinstance(msg.attributes[-1], MessageIntegrity)
