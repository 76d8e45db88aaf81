"""STUN codec: property-based round trips, exact errors on malformed input, 420 detection."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.proto.stun import (
    ATTRIBUTE_CLASSES,
    Attribute,
    ChannelNumber,
    ConnectionId,
    ErrorCode,
    EvenPort,
    Fingerprint,
    Lifetime,
    Message,
    MessageClass,
    MessageIntegrity,
    Method,
    ParseError,
    Priority,
    RequestedAddressFamily,
    RequestedTransport,
    UnknownAttribute,
    UnknownAttributes,
    Username,
    XorPeerAddress,
    attribute_name,
    parse,
    verify_fingerprint,
    verify_integrity,
)
from lab.proto.stun.kinds import _U32, _U64, _Address, _Bytes, _Empty, _Text

text = st.text(max_size=40)
u32 = st.integers(0, 0xFFFFFFFF)
ip = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)


def strategy_for(cls: type[Attribute]) -> st.SearchStrategy[Attribute]:
    special: dict[type[Attribute], st.SearchStrategy[Attribute]] = {
        MessageIntegrity: st.binary(min_size=20, max_size=20).map(MessageIntegrity),
        ErrorCode: st.builds(ErrorCode, st.integers(300, 699), text),
        UnknownAttributes: st.lists(st.integers(0, 0xFFFF), max_size=6).map(
            lambda t: UnknownAttributes(tuple(t))),
        ChannelNumber: st.integers(0, 0xFFFF).map(ChannelNumber),
        RequestedAddressFamily: st.integers(0, 255).map(RequestedAddressFamily),
        EvenPort: st.booleans().map(EvenPort),
        RequestedTransport: st.integers(0, 255).map(RequestedTransport),
    }
    if cls in special:
        return special[cls]
    if issubclass(cls, _Address):
        return st.builds(cls, ip, st.integers(0, 0xFFFF))
    if issubclass(cls, _U32):
        return u32.map(cls)
    if issubclass(cls, _U64):
        return st.integers(0, 2**64 - 1).map(cls)
    if issubclass(cls, _Text):
        return text.map(cls)
    if issubclass(cls, _Bytes):
        return st.binary(max_size=40).map(cls)
    if issubclass(cls, _Empty):
        return st.just(cls())
    raise AssertionError(f"no strategy for {cls.__name__}")


known = [c for c in ATTRIBUTE_CLASSES if c not in (MessageIntegrity, Fingerprint)]
unknown = st.builds(
    UnknownAttribute,
    st.integers(0, 0xFFFF).filter(lambda t: attribute_name(t).startswith("0x")),
    st.binary(max_size=30),
)
any_attribute = st.one_of(*[strategy_for(c) for c in known], unknown)
messages = st.builds(
    Message,
    st.integers(0, 0xFFF).map(Method),
    st.sampled_from(MessageClass),
    st.binary(min_size=12, max_size=12),
    st.lists(any_attribute, max_size=8).map(tuple),
)


def test_every_table_entry_has_a_strategy() -> None:
    for cls in ATTRIBUTE_CLASSES:
        assert strategy_for(cls) is not None


@given(messages)
@settings(max_examples=300)
def test_round_trip(msg: Message) -> None:
    raw = msg.encode()
    assert parse(raw) == msg
    assert parse(raw).encode() == raw


@given(messages, st.binary(min_size=1, max_size=32), st.booleans())
@settings(max_examples=200)
def test_round_trip_with_integrity(msg: Message, key: bytes, fp: bool) -> None:
    raw = msg.encode(integrity_key=key, fingerprint=fp)
    back = parse(raw)
    assert back.attributes[: len(msg.attributes)] == msg.attributes
    assert verify_integrity(raw, key)
    assert not verify_integrity(raw, key + b"x")
    assert verify_fingerprint(raw) is fp
    assert back.encode() == raw


@given(st.binary(max_size=120))
@settings(max_examples=500)
def test_garbage_raises_only_parse_error(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse(data)


@given(messages, st.data())
@settings(max_examples=300)
def test_mutations_raise_only_parse_error(msg: Message, data: st.DataObject) -> None:
    raw = bytearray(msg.encode(fingerprint=True))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    try:
        parse(bytes(raw))
        verify_fingerprint(bytes(raw))
        verify_integrity(bytes(raw), b"k")
    except ParseError:
        pass


def header(length: int, cookie: int = 0x2112A442, mtype: int = 1) -> bytes:
    return struct.pack("!HHI12s", mtype, length, cookie, b"\x00" * 12)


@pytest.mark.parametrize(("raw", "text"), [
    (b"\x00\x01", "shorter than its 20-byte header"),
    (header(0, mtype=0x8001), "first two bits"),
    (header(0, cookie=1), "wrong magic cookie"),
    (header(2) + b"\x00\x00", "not a multiple of 4"),
    (header(8), "header says 8 bytes"),
    (header(4) + b"\x00\x06\x00\x09", "overruns the message"),
    (header(8) + b"\x00\x0d\x00\x02\x00\x00\x00\x00", "LIFETIME value is 2 bytes, expected 4"),
    (header(8) + b"\x00\x20\x00\x04\x00\x03\x00\x01", "unknown address family"),
    (header(12) + b"\x00\x09\x00\x08\x00\x00\x07\x00ab\x00\x00", "ERROR-CODE class 7"),
    (header(8) + b"\x00\x06\x00\x02\xff\xfe\x00\x00", "USERNAME is not valid UTF-8"),
    (header(8) + b"\x00\x08\x00\x04\x00\x00\x00\x00", "MESSAGE-INTEGRITY value is 4 bytes"),
])
def test_exact_parse_errors(raw: bytes, text: str) -> None:
    with pytest.raises(ParseError, match=text):
        parse(raw)


def test_unknown_comprehension_required_are_reported() -> None:
    msg = Message.request(Method.ALLOCATE, [
        RequestedTransport(6), UnknownAttribute(0x7F01, b"x"), UnknownAttribute(0xC001, b"y"),
    ])
    back = parse(msg.encode())
    assert back.unknown_comprehension_required() == (0x7F01,)
    reply = back.error_response(420, attributes=[UnknownAttributes((0x7F01,))])
    err = parse(reply.encode())
    assert err.error == ErrorCode(420, "Unknown Attribute")
    assert err.get(UnknownAttributes) == UnknownAttributes((0x7F01,))
    assert err.transaction_id == msg.transaction_id


def test_attributes_after_integrity_are_ignored_but_fingerprint_kept() -> None:
    msg = Message.request(Method.BINDING, [Username("a:b")])
    raw = msg.encode(integrity_key=b"k")
    extra = struct.pack("!HHI", Lifetime.TYPE, 4, 9)
    fp = Message.request(Method.BINDING).encode(fingerprint=True)[-8:]
    tampered = bytearray(raw + extra + fp)
    struct.pack_into("!H", tampered, 2, len(tampered) - 20)
    back = parse(bytes(tampered))
    assert back.get(Lifetime) is None
    assert back.get(Fingerprint) is not None
    assert back.get(Username) == Username("a:b")


def test_message_type_bits_for_turn_methods() -> None:
    """RFC 6062 §6.1 methods and the class bits land where tshark and coturn expect."""
    cases = {
        (Method.CONNECT, MessageClass.REQUEST): 0x000A,
        (Method.CONNECTION_BIND, MessageClass.SUCCESS): 0x010B,
        (Method.CONNECTION_ATTEMPT, MessageClass.INDICATION): 0x001C,
        (Method.ALLOCATE, MessageClass.ERROR): 0x0113,
    }
    for (method, cls), value in cases.items():
        raw = Message(method, cls, b"\x01" * 12).encode()
        assert struct.unpack("!H", raw[:2])[0] == value
        assert parse(raw).method is method


def test_unknown_method_is_a_pseudo_member() -> None:
    raw = Message(Method(0x0F0), MessageClass.REQUEST, b"\x02" * 12).encode()
    assert parse(raw).method == 0x0F0
    assert parse(raw).method.name == "METHOD_0x0F0"


def test_local_misuse_is_value_error() -> None:
    with pytest.raises(ValueError, match="32 bits"):
        Priority(2**32)
    with pytest.raises(ValueError):
        XorPeerAddress("not-an-ip", 1)
    with pytest.raises(ValueError, match="300-699"):
        ErrorCode(200)
    with pytest.raises(ValueError, match="12 bytes"):
        Message(Method.BINDING, MessageClass.REQUEST, b"short")


def test_get_distinguishes_attribute_classes() -> None:
    msg = Message.request(Method.CONNECT, [ConnectionId(5), Lifetime(5),
                                           XorPeerAddress("192.168.1.252", 53577),
                                           XorPeerAddress("10.0.0.1", 1)])
    assert msg.get(ConnectionId) == ConnectionId(5)
    assert ConnectionId(5) != Lifetime(5)  # type: ignore[comparison-overlap]
    assert len(msg.get_all(XorPeerAddress)) == 2
    assert msg.get(XorPeerAddress) is not None
    assert msg.get(XorPeerAddress).addr == ("192.168.1.252", 53577)  # type: ignore[union-attr]
    assert msg.describe() == "Connect request"
    assert msg.error_response(446).describe() == "Connect error 446 (Connection Already Exists)"
