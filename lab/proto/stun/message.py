"""STUN messages: header, methods, classes, parse and encode (RFC 8489 §5, §6; RFC 8656 §17;
RFC 6062 §6.1).

A :class:`Message` is immutable; :func:`parse` turns bytes into one (or raises
:class:`ParseError`), :meth:`Message.encode` turns one into bytes, adding MESSAGE-INTEGRITY and
FINGERPRINT when asked.
"""

from __future__ import annotations

import enum
import secrets
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from lab.proto.stun.attributes import (
    ErrorCode,
    Fingerprint,
    MessageIntegrity,
    UnknownAttribute,
    decode_attribute,
)
from lab.proto.stun.errors import ParseError
from lab.proto.stun.integrity import HEADER_SIZE, fingerprint_value, integrity_hmac
from lab.proto.stun.kinds import MAGIC_COOKIE, Attribute

A = TypeVar("A", bound=Attribute)


class Method(enum.IntEnum):
    """STUN/TURN methods (RFC 8489 §18.2, RFC 8656 §17, RFC 6062 §6.1).

    A method number not listed here parses to a pseudo-member named ``METHOD_0x...``.
    """

    BINDING = 0x001
    ALLOCATE = 0x003
    REFRESH = 0x004
    SEND = 0x006
    DATA = 0x007
    CREATE_PERMISSION = 0x008
    CHANNEL_BIND = 0x009
    CONNECT = 0x00A
    CONNECTION_BIND = 0x00B
    CONNECTION_ATTEMPT = 0x00C

    @classmethod
    def _missing_(cls, value: object) -> Method | None:
        if isinstance(value, int) and 0 <= value <= 0xFFF:
            member = int.__new__(cls, value)
            member._name_ = f"METHOD_0x{value:03X}"
            member._value_ = value
            return member
        return None


class MessageClass(enum.IntEnum):
    """The two class bits C1 C0 (RFC 8489 §5)."""

    REQUEST = 0
    INDICATION = 1
    SUCCESS = 2
    ERROR = 3


#: Reason phrases for the error codes this lab uses (RFC 8489 §14.8, RFC 8656 §18.11,
#: RFC 6062 §6.3, RFC 8445 §16.2).
REASONS: dict[int, str] = {
    300: "Try Alternate", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    420: "Unknown Attribute", 437: "Allocation Mismatch", 438: "Stale Nonce",
    440: "Address Family not Supported", 441: "Wrong Credentials",
    442: "Unsupported Transport Protocol", 443: "Peer Address Family Mismatch",
    446: "Connection Already Exists", 447: "Connection Timeout or Failure",
    486: "Allocation Quota Reached", 487: "Role Conflict", 500: "Server Error",
    508: "Insufficient Capacity",
}


def message_type(method: int, cls: int) -> int:
    """Interleave method bits M11..M0 and class bits C1 C0 (RFC 8489 §5, figure 3)."""
    return (
        (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2)
        | ((cls & 1) << 4) | ((cls & 2) << 7)
    )


def split_message_type(value: int) -> tuple[int, int]:
    """The inverse of :func:`message_type`: ``(method, class)``."""
    method = (value & 0x000F) | ((value >> 1) & 0x0070) | ((value >> 2) & 0x0F80)
    cls = ((value >> 4) & 1) | ((value >> 7) & 2)
    return method, cls


def new_transaction_id() -> bytes:
    """A fresh 96-bit transaction id, uniformly random (RFC 8489 §6)."""
    return secrets.token_bytes(12)


@dataclass(frozen=True)
class Message:
    """One STUN message. ``attributes`` keep their order; parsed MESSAGE-INTEGRITY and
    FINGERPRINT attributes are kept too, so that ``parse(x).encode() == x``."""

    method: Method
    cls: MessageClass
    transaction_id: bytes = field(default_factory=new_transaction_id)
    attributes: tuple[Attribute, ...] = ()

    def __post_init__(self) -> None:
        if len(self.transaction_id) != 12:
            raise ValueError("a STUN transaction id is 12 bytes")

    # --- access -----------------------------------------------------------------------

    def get(self, kind: type[A]) -> A | None:
        """The first attribute of class ``kind``, or None."""
        for attr in self.attributes:
            if type(attr) is kind:
                return attr
        return None

    def get_all(self, kind: type[A]) -> tuple[A, ...]:
        """Every attribute of class ``kind``, in order (e.g. several XOR-PEER-ADDRESS)."""
        return tuple(a for a in self.attributes if type(a) is kind)

    def has(self, kind: type[Attribute]) -> bool:
        return self.get(kind) is not None

    @property
    def error(self) -> ErrorCode | None:
        """The ERROR-CODE of an error response, if any."""
        return self.get(ErrorCode)

    def unknown_comprehension_required(self) -> tuple[int, ...]:
        """Types this codec does not know in the range that must be understood
        (RFC 8489 §14: 0x0000-0x7FFF); a server answers 420 listing them."""
        return tuple(
            a.attr_type for a in self.attributes
            if isinstance(a, UnknownAttribute) and a.comprehension_required
        )

    # --- building -------------------------------------------------------------------------

    @classmethod
    def request(cls, method: Method, attributes: Iterable[Attribute] = ()) -> Message:
        """A new request with a fresh transaction id."""
        return cls(method, MessageClass.REQUEST, new_transaction_id(), tuple(attributes))

    @classmethod
    def indication(cls, method: Method, attributes: Iterable[Attribute] = ()) -> Message:
        return cls(method, MessageClass.INDICATION, new_transaction_id(), tuple(attributes))

    def success(self, attributes: Iterable[Attribute] = ()) -> Message:
        """The success response to this request (same method and transaction id)."""
        return Message(self.method, MessageClass.SUCCESS, self.transaction_id, tuple(attributes))

    def error_response(
        self, code: int, reason: str | None = None, attributes: Iterable[Attribute] = ()
    ) -> Message:
        """The error response to this request, ERROR-CODE first (RFC 8489 §6.3.4)."""
        text = REASONS.get(code, "") if reason is None else reason
        attrs = (ErrorCode(code, text), *attributes)
        return Message(self.method, MessageClass.ERROR, self.transaction_id, attrs)

    def with_attributes(self, *attributes: Attribute) -> Message:
        """A copy with ``attributes`` appended."""
        return Message(self.method, self.cls, self.transaction_id, self.attributes + attributes)

    # --- encoding -------------------------------------------------------------------------

    def encode(
        self, integrity_key: bytes | None = None, fingerprint: bool = False, padding: int = 0
    ) -> bytes:
        """The wire bytes (RFC 8489 §6).

        With ``integrity_key`` a MESSAGE-INTEGRITY is computed and appended (any stored one is
        dropped); with ``fingerprint`` a FINGERPRINT is appended last (any stored one dropped).
        ``padding`` is the byte value used to pad attributes to 4 bytes (RFC 5769 vectors
        use 0x20).
        """
        attrs = [
            a for a in self.attributes
            if not (integrity_key is not None and isinstance(a, MessageIntegrity | Fingerprint))
            and not (fingerprint and isinstance(a, Fingerprint))
        ]
        pad = bytes([padding]) * 3
        body = bytearray()
        for attr in attrs:
            body += _encode_attribute(attr.attr_type, attr.encode_value(self.transaction_id), pad)
        head = struct.pack(
            "!HHI12s", message_type(self.method, self.cls), 0, MAGIC_COOKIE, self.transaction_id
        )
        data = bytearray(head) + body
        if integrity_key is not None:
            mac = integrity_hmac(bytes(data), integrity_key)
            data += _encode_attribute(MessageIntegrity.TYPE, mac, pad)
        if fingerprint:
            crc = fingerprint_value(bytes(data))
            data += _encode_attribute(Fingerprint.TYPE, struct.pack("!I", crc), pad)
        struct.pack_into("!H", data, 2, len(data) - HEADER_SIZE)
        return bytes(data)

    def __bytes__(self) -> bytes:
        return self.encode()

    def describe(self) -> str:
        """A one-line summary for logs and ladders: ``Allocate error 401 (Unauthorized)``."""
        name = _PRETTY.get(self.method, self.method.name.title())
        text = f"{name} {self.cls.name.lower()}"
        err = self.error
        if err is not None:
            text += f" {err.code} ({err.reason})" if err.reason else f" {err.code}"
        return text


_PRETTY = {
    Method.CREATE_PERMISSION: "CreatePermission", Method.CHANNEL_BIND: "ChannelBind",
    Method.CONNECTION_BIND: "ConnectionBind", Method.CONNECTION_ATTEMPT: "ConnectionAttempt",
}


def _encode_attribute(attr_type: int, value: bytes, pad: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise ValueError(f"attribute 0x{attr_type:04X} value is longer than 65535 bytes")
    return struct.pack("!HH", attr_type, len(value)) + value + pad[: -len(value) % 4]


def parse(data: bytes) -> Message:
    """Parse one whole STUN message (RFC 8489 §6); raises :class:`ParseError`, nothing else.

    Attributes following MESSAGE-INTEGRITY other than FINGERPRINT, and anything after
    FINGERPRINT, are ignored (RFC 8489 §14.5, §14.7). Integrity and fingerprint are *not*
    checked here: use :func:`verify_integrity` / :func:`verify_fingerprint` on the raw bytes.
    """
    raw = bytes(data)
    if len(raw) < HEADER_SIZE:
        raise ParseError(f"STUN message is {len(raw)} bytes, shorter than its 20-byte header")
    mtype, length, cookie = struct.unpack("!HHI", raw[:8])
    if mtype & 0xC000:
        raise ParseError(f"not a STUN message: first two bits of {mtype:#06x} are not zero")
    if cookie != MAGIC_COOKIE:
        raise ParseError(f"wrong magic cookie {cookie:#010x} (RFC 3489 messages unsupported)")
    if length % 4:
        raise ParseError(f"STUN message length {length} is not a multiple of 4")
    if HEADER_SIZE + length != len(raw):
        raise ParseError(f"STUN header says {length} bytes of attributes, got {len(raw) - 20}")
    tid = raw[8:20]
    attrs: list[Attribute] = []
    pos, seen_integrity = HEADER_SIZE, False
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise ParseError(f"truncated attribute header at offset {pos}")
        attr_type, attr_len = struct.unpack("!HH", raw[pos:pos + 4])
        end = pos + 4 + attr_len
        if end + (-attr_len % 4) > len(raw):
            raise ParseError(f"attribute 0x{attr_type:04X} at offset {pos} overruns the message")
        if not seen_integrity or attr_type == Fingerprint.TYPE:
            attrs.append(decode_attribute(attr_type, raw[pos + 4:end], tid))
        if attr_type == Fingerprint.TYPE:
            break
        seen_integrity = seen_integrity or attr_type == MessageIntegrity.TYPE
        pos = end + (-attr_len % 4)
    method, klass = split_message_type(mtype)
    return Message(Method(method), MessageClass(klass), tid, tuple(attrs))
