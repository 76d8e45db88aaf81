"""STUN attributes as a table of typed codecs (RFC 8489 §14, RFC 8656 §18, RFC 6062 §6.2,
RFC 8445 §16.1, MS-ICE2 §2.2.2).

Each attribute is a frozen dataclass. The *kind* of its value (an address, an XOR'ed address, a
32-bit number, a string...) is a small base class that knows how to encode and decode that kind;
each concrete attribute only adds its type number and name. :data:`ATTRIBUTES` maps type numbers
to classes; types not in the table decode to :class:`UnknownAttribute`, which keeps the raw
value so that ``parse(x).encode() == x`` holds for any well-formed message.

Decoders raise :class:`~lab.proto.stun.errors.ParseError` on malformed values; constructors
raise ``ValueError`` when *we* build an attribute with an out-of-range value.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from lab.proto.stun.errors import ParseError

MAGIC_COOKIE = 0x2112A442
_COOKIE_BYTES = struct.pack("!I", MAGIC_COOKIE)
FAMILY_IPV4 = 0x01
FAMILY_IPV6 = 0x02
PROTO_TCP = 6
PROTO_UDP = 17


class Attribute:
    """Base of every attribute: a type number, a name, and a value codec.

    ``transaction_id`` is passed to every codec because the XOR'ed addresses need it
    (RFC 8489 §14.2).
    """

    __slots__ = ()
    TYPE: ClassVar[int]
    NAME: ClassVar[str]

    def encode_value(self, transaction_id: bytes) -> bytes:
        raise NotImplementedError

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        raise NotImplementedError

    @property
    def attr_type(self) -> int:
        return self.TYPE

    @property
    def comprehension_required(self) -> bool:
        """RFC 8489 §14: types 0x0000-0x7FFF must be understood by the receiver."""
        return self.attr_type < 0x8000


def _need(cls: type[Attribute], value: bytes, length: int) -> None:
    if len(value) != length:
        raise ParseError(f"{cls.NAME} value is {len(value)} bytes, expected {length}")


# --- value kinds -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Empty(Attribute):
    """A flag with no value (USE-CANDIDATE, DONT-FRAGMENT)."""

    def encode_value(self, transaction_id: bytes) -> bytes:
        return b""

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        _need(cls, value, 0)
        return cls()


@dataclass(frozen=True, slots=True)
class _U32(Attribute):
    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 0xFFFFFFFF:
            raise ValueError(f"{self.NAME} must fit in 32 bits, not {self.value}")

    def encode_value(self, transaction_id: bytes) -> bytes:
        return struct.pack("!I", self.value)

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        _need(cls, value, 4)
        return cls(struct.unpack("!I", value)[0])


@dataclass(frozen=True, slots=True)
class _U64(Attribute):
    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 0xFFFFFFFFFFFFFFFF:
            raise ValueError(f"{self.NAME} must fit in 64 bits, not {self.value}")

    def encode_value(self, transaction_id: bytes) -> bytes:
        return struct.pack("!Q", self.value)

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        _need(cls, value, 8)
        return cls(struct.unpack("!Q", value)[0])


@dataclass(frozen=True, slots=True)
class _Bytes(Attribute):
    value: bytes

    def encode_value(self, transaction_id: bytes) -> bytes:
        return self.value

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        return cls(bytes(value))


@dataclass(frozen=True, slots=True)
class _Text(Attribute):
    """UTF-8 text (USERNAME, REALM, SOFTWARE), RFC 8489 §14.3, §14.9, §14.14."""

    value: str

    def encode_value(self, transaction_id: bytes) -> bytes:
        return self.value.encode("utf-8")

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        try:
            return cls(value.decode("utf-8"))
        except UnicodeDecodeError:
            raise ParseError(f"{cls.NAME} is not valid UTF-8") from None


@dataclass(frozen=True, slots=True)
class _Address(Attribute):
    """An IP address and port (RFC 8489 §14.1); ``host`` is the textual address."""

    host: str
    port: int

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 0xFFFF:
            raise ValueError(f"{self.NAME} port {self.port} out of range")
        ip = ipaddress.ip_address(self.host)  # ValueError on a bad address
        object.__setattr__(self, "host", str(ip))

    @property
    def addr(self) -> tuple[str, int]:
        """The ``(host, port)`` pair, as asyncio and socket want it."""
        return (self.host, self.port)

    def _packed(self) -> tuple[int, bytes]:
        ip = ipaddress.ip_address(self.host)
        return (FAMILY_IPV4 if ip.version == 4 else FAMILY_IPV6), ip.packed

    def encode_value(self, transaction_id: bytes) -> bytes:
        family, packed = self._packed()
        return struct.pack("!BBH", 0, family, self.port) + packed

    @classmethod
    def _split(cls, value: bytes) -> tuple[int, int, bytes]:
        if len(value) < 4:
            raise ParseError(f"{cls.NAME} is {len(value)} bytes, too short")
        family, port = value[1], struct.unpack("!H", value[2:4])[0]
        raw = value[4:]
        want = {FAMILY_IPV4: 4, FAMILY_IPV6: 16}.get(family)
        if want is None:
            raise ParseError(f"{cls.NAME} has unknown address family {family:#x}")
        if len(raw) != want:
            raise ParseError(f"{cls.NAME} address is {len(raw)} bytes, expected {want}")
        return family, port, raw

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        _family, port, raw = cls._split(value)
        return cls(str(ipaddress.ip_address(raw)), port)


def _xor_pad(transaction_id: bytes) -> bytes:
    return _COOKIE_BYTES + transaction_id


def _xor(data: bytes, pad: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, pad, strict=False))


@dataclass(frozen=True, slots=True)
class _XorAddress(_Address):
    """An address XOR'ed with the magic cookie and transaction id (RFC 8489 §14.2)."""

    def encode_value(self, transaction_id: bytes) -> bytes:
        family, packed = self._packed()
        port = self.port ^ (MAGIC_COOKIE >> 16)
        return struct.pack("!BBH", 0, family, port) + _xor(packed, _xor_pad(transaction_id))

    @classmethod
    def decode_value(cls, value: bytes, transaction_id: bytes) -> Self:
        _family, port, raw = cls._split(value)
        host = ipaddress.ip_address(_xor(raw, _xor_pad(transaction_id)))
        return cls(str(host), port ^ (MAGIC_COOKIE >> 16))


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
    """Microsoft IMPLEMENTATION-VERSION, MS-ICE2 §2.2.2.2 (2 for MS-ICE2)."""

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
