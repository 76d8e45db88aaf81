"""STUN attributes as a table of typed codecs (RFC 8489 §14, RFC 8656 §18, RFC 6062 §6.2,
RFC 8445 §16.1, MS-ICE2 §2.2.2).

Each attribute is a frozen dataclass. The *kind* of its value (an address, an XOR'ed address, a
32-bit number, a string...) is a small base class in :mod:`lab.proto.stun.kinds` that knows how
to encode and decode that kind; each concrete attribute only adds its type number and name.
:data:`ATTRIBUTES` maps type numbers to classes; types not in the table decode to
:class:`UnknownAttribute`, which keeps the raw value so that ``parse(x).encode() == x`` holds for
any well-formed message.

Decoders raise :class:`~lab.proto.stun.errors.ParseError` on malformed values; constructors
raise ``ValueError`` when *we* build an attribute with an out-of-range value.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Self

from lab.proto.stun.errors import ParseError
from lab.proto.stun.kinds import (
    _U32,
    _U64,
    Attribute,
    _Address,
    _Bytes,
    _Empty,
    _need,
    _Text,
    _XorAddress,
)

# --- the attributes ----------------------------------------------------------------------


class MappedAddress(_Address):
    """MAPPED-ADDRESS, RFC 8489 §14.1."""

    __slots__ = ()
    TYPE, NAME = 0x0001, "MAPPED-ADDRESS"


class Username(_Text):
    """USERNAME, RFC 8489 §14.3 (ICE: ``rfrag:lfrag``, RFC 8445 §7.2.2)."""

    __slots__ = ()
    TYPE, NAME = 0x0006, "USERNAME"


@dataclass(frozen=True, slots=True)
class MessageIntegrity(Attribute):
    """MESSAGE-INTEGRITY: HMAC-SHA1 over the message up to it, RFC 8489 §14.5.

    Built by :meth:`Message.encode` from a key; a parsed one keeps the received HMAC.
    """

    TYPE, NAME = 0x0008, "MESSAGE-INTEGRITY"
    hmac: bytes

    def encode_value(self, transaction_id: bytes) -> bytes:
        return self.hmac

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        _need(cls, value, 20)
        return cls(bytes(value))


@dataclass(frozen=True, slots=True)
class ErrorCode(Attribute):
    """ERROR-CODE: a code 300-699 and a UTF-8 reason phrase, RFC 8489 §14.8."""

    TYPE, NAME = 0x0009, "ERROR-CODE"
    code: int
    reason: str = ""

    def __post_init__(self) -> None:
        if not 300 <= self.code <= 699:
            raise ValueError(f"ERROR-CODE must be 300-699, not {self.code}")

    def encode_value(self, transaction_id: bytes) -> bytes:
        head = struct.pack("!HBB", 0, self.code // 100, self.code % 100)
        return head + self.reason.encode("utf-8")

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        if len(value) < 4:
            raise ParseError(f"ERROR-CODE is {len(value)} bytes, too short")
        klass, number = value[2] & 0x07, value[3]
        if not 3 <= klass <= 6 or number > 99:
            raise ParseError(f"ERROR-CODE class {klass} number {number} out of range")
        try:
            reason = value[4:].decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("ERROR-CODE reason is not valid UTF-8") from None
        return cls(klass * 100 + number, reason)


@dataclass(frozen=True, slots=True)
class UnknownAttributes(Attribute):
    """UNKNOWN-ATTRIBUTES: the comprehension-required types not understood, RFC 8489 §14.9."""

    TYPE, NAME = 0x000A, "UNKNOWN-ATTRIBUTES"
    types: tuple[int, ...]

    def encode_value(self, transaction_id: bytes) -> bytes:
        return b"".join(struct.pack("!H", t) for t in self.types)

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        if len(value) % 2:
            raise ParseError("UNKNOWN-ATTRIBUTES length is odd")
        return cls(tuple(struct.unpack(f"!{len(value) // 2}H", value)))


@dataclass(frozen=True, slots=True)
class ChannelNumber(Attribute):
    """CHANNEL-NUMBER, RFC 8656 §18.1."""

    TYPE, NAME = 0x000C, "CHANNEL-NUMBER"
    channel: int

    def encode_value(self, transaction_id: bytes) -> bytes:
        return struct.pack("!HH", self.channel, 0)

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        _need(cls, value, 4)
        return cls(struct.unpack("!H", value[:2])[0])


class Lifetime(_U32):
    """LIFETIME in seconds, RFC 8656 §18.2."""

    __slots__ = ()
    TYPE, NAME = 0x000D, "LIFETIME"


class XorPeerAddress(_XorAddress):
    """XOR-PEER-ADDRESS, RFC 8656 §18.3."""

    __slots__ = ()
    TYPE, NAME = 0x0012, "XOR-PEER-ADDRESS"


class Data(_Bytes):
    """DATA, RFC 8656 §18.4."""

    __slots__ = ()
    TYPE, NAME = 0x0013, "DATA"


class Realm(_Text):
    """REALM, RFC 8489 §14.9."""

    __slots__ = ()
    TYPE, NAME = 0x0014, "REALM"


class Nonce(_Bytes):
    """NONCE, RFC 8489 §14.10; kept as bytes since servers choose its content freely."""

    __slots__ = ()
    TYPE, NAME = 0x0015, "NONCE"


class XorRelayedAddress(_XorAddress):
    """XOR-RELAYED-ADDRESS, RFC 8656 §18.5."""

    __slots__ = ()
    TYPE, NAME = 0x0016, "XOR-RELAYED-ADDRESS"


@dataclass(frozen=True, slots=True)
class RequestedAddressFamily(Attribute):
    """REQUESTED-ADDRESS-FAMILY, RFC 8656 §18.6."""

    TYPE, NAME = 0x0017, "REQUESTED-ADDRESS-FAMILY"
    family: int

    def encode_value(self, transaction_id: bytes) -> bytes:
        return struct.pack("!B3x", self.family)

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        _need(cls, value, 4)
        return cls(value[0])


@dataclass(frozen=True, slots=True)
class EvenPort(Attribute):
    """EVEN-PORT with its R bit, RFC 8656 §18.7."""

    TYPE, NAME = 0x0018, "EVEN-PORT"
    reserve_next: bool

    def encode_value(self, transaction_id: bytes) -> bytes:
        return b"\x80" if self.reserve_next else b"\x00"

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        _need(cls, value, 1)
        return cls(bool(value[0] & 0x80))


@dataclass(frozen=True, slots=True)
class RequestedTransport(Attribute):
    """REQUESTED-TRANSPORT: the IP protocol number (6 TCP, 17 UDP), RFC 8656 §18.8."""

    TYPE, NAME = 0x0019, "REQUESTED-TRANSPORT"
    protocol: int

    def __post_init__(self) -> None:
        if not 0 <= self.protocol <= 0xFF:
            raise ValueError(f"REQUESTED-TRANSPORT protocol {self.protocol} out of range")

    def encode_value(self, transaction_id: bytes) -> bytes:
        return struct.pack("!B3x", self.protocol)

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        _need(cls, value, 4)
        return cls(value[0])


class DontFragment(_Empty):
    """DONT-FRAGMENT, RFC 8656 §18.9."""

    __slots__ = ()
    TYPE, NAME = 0x001A, "DONT-FRAGMENT"


class XorMappedAddress(_XorAddress):
    """XOR-MAPPED-ADDRESS, RFC 8489 §14.2."""

    __slots__ = ()
    TYPE, NAME = 0x0020, "XOR-MAPPED-ADDRESS"


class ReservationToken(_Bytes):
    """RESERVATION-TOKEN (8 bytes), RFC 8656 §18.10."""

    __slots__ = ()
    TYPE, NAME = 0x0022, "RESERVATION-TOKEN"


class Priority(_U32):
    """PRIORITY, RFC 8445 §16.1."""

    __slots__ = ()
    TYPE, NAME = 0x0024, "PRIORITY"


class UseCandidate(_Empty):
    """USE-CANDIDATE, RFC 8445 §16.1."""

    __slots__ = ()
    TYPE, NAME = 0x0025, "USE-CANDIDATE"


class ConnectionId(_U32):
    """CONNECTION-ID, RFC 6062 §6.2.1; an opaque 32-bit value chosen by the server."""

    __slots__ = ()
    TYPE, NAME = 0x002A, "CONNECTION-ID"


class Software(_Text):
    """SOFTWARE, RFC 8489 §14.14."""

    __slots__ = ()
    TYPE, NAME = 0x8022, "SOFTWARE"


class AlternateServer(_Address):
    """ALTERNATE-SERVER, RFC 8489 §14.15."""

    __slots__ = ()
    TYPE, NAME = 0x8023, "ALTERNATE-SERVER"


class Fingerprint(_U32):
    """FINGERPRINT: CRC-32 of the message XOR 0x5354554E, RFC 8489 §14.7.

    Built by :meth:`Message.encode` with ``fingerprint=True``; a parsed one keeps the received
    value (check it with :func:`lab.proto.stun.verify_fingerprint`).
    """

    __slots__ = ()
    TYPE, NAME = 0x8028, "FINGERPRINT"


class IceControlled(_U64):
    """ICE-CONTROLLED with the tie-breaker, RFC 8445 §16.1."""

    __slots__ = ()
    TYPE, NAME = 0x8029, "ICE-CONTROLLED"


class IceControlling(_U64):
    """ICE-CONTROLLING with the tie-breaker, RFC 8445 §16.1."""

    __slots__ = ()
    TYPE, NAME = 0x802A, "ICE-CONTROLLING"


class ResponseOrigin(_Address):
    """RESPONSE-ORIGIN, RFC 5780 §7.3 (coturn sends it in Binding responses)."""

    __slots__ = ()
    TYPE, NAME = 0x802B, "RESPONSE-ORIGIN"


class OtherAddress(_Address):
    """OTHER-ADDRESS, RFC 5780 §7.4."""

    __slots__ = ()
    TYPE, NAME = 0x802C, "OTHER-ADDRESS"


class CandidateIdentifier(_Bytes):
    """Microsoft CANDIDATE-IDENTIFIER: the candidate's foundation, MS-ICE2 §2.2.2.1."""

    __slots__ = ()
    TYPE, NAME = 0x8054, "CANDIDATE-IDENTIFIER"


class ImplementationVersion(_U32):
    """Microsoft IMPLEMENTATION-VERSION, MS-ICE2 §2.2.2.2 (3: RFC 5389 message formats;
    2 would mean draft RFC3489bis-02 only)."""

    __slots__ = ()
    TYPE, NAME = 0x8070, "IMPLEMENTATION-VERSION"


@dataclass(frozen=True, slots=True)
class UnknownAttribute(Attribute):
    """An attribute whose type is not in the table; its raw value is kept as received."""

    type: int
    value: bytes
    NAME = "UNKNOWN"

    @property
    def attr_type(self) -> int:
        return self.type

    def encode_value(self, transaction_id: bytes) -> bytes:
        return self.value

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        raise NotImplementedError("UnknownAttribute is built by the parser with its type")


ATTRIBUTE_CLASSES: tuple[type[Attribute], ...] = (
    MappedAddress, Username, MessageIntegrity, ErrorCode, UnknownAttributes, ChannelNumber,
    Lifetime, XorPeerAddress, Data, Realm, Nonce, XorRelayedAddress, RequestedAddressFamily,
    EvenPort, RequestedTransport, DontFragment, XorMappedAddress, ReservationToken, Priority,
    UseCandidate, ConnectionId, Software, AlternateServer, Fingerprint, IceControlled,
    IceControlling, ResponseOrigin, OtherAddress, CandidateIdentifier, ImplementationVersion,
)

#: The table: attribute type number -> class.
ATTRIBUTES: dict[int, type[Attribute]] = {c.TYPE: c for c in ATTRIBUTE_CLASSES}


def attribute_name(attr_type: int) -> str:
    """The RFC name of an attribute type, or its number in hex."""
    cls = ATTRIBUTES.get(attr_type)
    return cls.NAME if cls is not None else f"0x{attr_type:04X}"


def decode_attribute(attr_type: int, value: bytes, transaction_id: bytes) -> Attribute:
    """Decode one attribute value through the table (RFC 8489 §14)."""
    cls = ATTRIBUTES.get(attr_type)
    if cls is None:
        return UnknownAttribute(attr_type, bytes(value))
    try:
        return cls.decode_value(value, transaction_id)
    except ParseError:
        raise
    except (ValueError, struct.error) as exc:
        raise ParseError(f"{cls.NAME}: {exc}") from None

