"""Real bytes from a capture: coturn 4.6.1's answers to our client, and our client's
authenticated Allocate, parsed, verified and re-encoded byte for byte (tests/data/stun)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.proto.stun import (
    ConnectionId,
    ErrorCode,
    Lifetime,
    MessageClass,
    Method,
    Nonce,
    Realm,
    RequestedTransport,
    Username,
    XorMappedAddress,
    XorPeerAddress,
    XorRelayedAddress,
    long_term_key,
    parse,
    verify_fingerprint,
    verify_integrity,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "stun"
KEY = long_term_key("cms", "TANDBERG", "s3cret")  # tests/turnhelp.py credentials


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.mark.parametrize(("name", "method", "cls", "integrity", "fingerprint"), [
    ("coturn-allocate-401.bin", Method.ALLOCATE, MessageClass.ERROR, False, True),
    ("coturn-allocate-success.bin", Method.ALLOCATE, MessageClass.SUCCESS, True, True),
    ("coturn-connect-success.bin", Method.CONNECT, MessageClass.SUCCESS, True, False),
    ("coturn-connection-attempt.bin", Method.CONNECTION_ATTEMPT, MessageClass.INDICATION,
     False, True),
    ("coturn-connectionbind-success.bin", Method.CONNECTION_BIND, MessageClass.SUCCESS,
     True, True),
    ("uclab-allocate-request.bin", Method.ALLOCATE, MessageClass.REQUEST, True, True),
])
def test_captured_message(name: str, method: Method, cls: MessageClass, integrity: bool,
                          fingerprint: bool) -> None:
    raw = load(name)
    msg = parse(raw)
    assert (msg.method, msg.cls) == (method, cls)
    assert verify_integrity(raw, KEY) is integrity
    assert verify_fingerprint(raw) is fingerprint
    assert msg.encode() == raw


def test_captured_attribute_values() -> None:
    challenge = parse(load("coturn-allocate-401.bin"))
    assert challenge.error == ErrorCode(401, "Unauthorized")
    assert challenge.get(Realm) == Realm("TANDBERG") and challenge.has(Nonce)
    ok = parse(load("coturn-allocate-success.bin"))
    relayed = ok.get(XorRelayedAddress)
    assert relayed is not None and relayed.host == "192.168.1.229"
    assert 24000 <= relayed.port <= 24099
    assert ok.get(XorMappedAddress) == XorMappedAddress("10.48.54.230", 33347)
    assert ok.get(Lifetime) == Lifetime(600)
    attempt = parse(load("coturn-connection-attempt.bin"))
    peer = attempt.get(XorPeerAddress)
    assert peer is not None and peer.host == "192.168.1.252"
    assert attempt.has(ConnectionId)
    request = parse(load("uclab-allocate-request.bin"))
    assert request.get(RequestedTransport) == RequestedTransport(6)
    assert request.get(Username) == Username("cms")
    assert request.get(Nonce) == challenge.get(Nonce)  # the nonce coturn gave in its 401
