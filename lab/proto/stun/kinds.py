"""The value kinds of STUN attributes (RFC 8489 §14): each base class here knows how to encode
and decode one kind of value (an address, an XOR'ed address, a 32-bit number, text...); the
concrete attributes in :mod:`lab.proto.stun.attributes` only add a type number and a name."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from lab.proto.addr import Addr
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
    def addr(self) -> Addr:
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
