"""Credentials, MESSAGE-INTEGRITY and FINGERPRINT (RFC 8489 §9.1, §9.2, §14.5, §14.7).

The keys:

* short-term (ICE connectivity checks, RFC 8445 §7.2.2): ``key = SASLprep(password)``;
* long-term (TURN, RFC 8489 §9.2.2): ``key = MD5(username ":" realm ":" SASLprep(password))``.

The checks work on the *raw* received bytes, not on a re-encoding, so that what is verified is
exactly what the peer sent.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import stringprep
import struct
import unicodedata

from lab.proto.stun.errors import ParseError

HEADER_SIZE = 20
INTEGRITY_TYPE = 0x0008
FINGERPRINT_TYPE = 0x8028
FINGERPRINT_XOR = 0x5354554E


def _prohibited(ch: str) -> bool:
    return any(
        check(ch)
        for check in (
            stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3,
            stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6,
            stringprep.in_table_c7, stringprep.in_table_c8, stringprep.in_table_c9,
        )
    )


def saslprep(text: str) -> str:
    """SASLprep (RFC 4013) as a query string: map, NFKC, prohibit, bidi check.

    Raises ``ValueError`` for a prohibited character (a local configuration mistake).
    """
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch
        for ch in text
        if not stringprep.in_table_b1(ch)
    )
    normal = unicodedata.normalize("NFKC", mapped)
    for ch in normal:
        if _prohibited(ch):
            raise ValueError(f"SASLprep: prohibited character U+{ord(ch):04X}")
    if any(stringprep.in_table_d1(ch) for ch in normal):
        if any(stringprep.in_table_d2(ch) for ch in normal):
            raise ValueError("SASLprep: mixes right-to-left and left-to-right text")
        if not (stringprep.in_table_d1(normal[0]) and stringprep.in_table_d1(normal[-1])):
            raise ValueError("SASLprep: right-to-left text must start and end with RandALCat")
    return normal


def short_term_key(password: str) -> bytes:
    """The short-term credential key, RFC 8489 §9.1.1."""
    return saslprep(password).encode("utf-8")


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """The long-term credential key (MD5 algorithm), RFC 8489 §9.2.2."""
    text = f"{username}:{realm}:{saslprep(password)}"
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).digest()


def _with_length(prefix: bytes, body_length: int) -> bytes:
    """``prefix`` (header + attributes) with the header length set to ``body_length``."""
    return prefix[:2] + struct.pack("!H", body_length) + prefix[4:]


def integrity_hmac(prefix: bytes, key: bytes) -> bytes:
    """HMAC-SHA1 for a MESSAGE-INTEGRITY appended after ``prefix`` (RFC 8489 §14.5)."""
    data = _with_length(prefix, len(prefix) - HEADER_SIZE + 24)
    return hmac.new(key, data, hashlib.sha1).digest()


def fingerprint_value(prefix: bytes) -> int:
    """FINGERPRINT value for an attribute appended after ``prefix`` (RFC 8489 §14.7)."""
    data = _with_length(prefix, len(prefix) - HEADER_SIZE + 8)
    return (binascii.crc32(data) ^ FINGERPRINT_XOR) & 0xFFFFFFFF


def attribute_offsets(raw: bytes) -> list[tuple[int, int, int]]:
    """``(offset, type, length)`` of each attribute of a raw message; ParseError if malformed."""
    if len(raw) < HEADER_SIZE:
        raise ParseError(f"STUN message is {len(raw)} bytes, shorter than its 20-byte header")
    length = struct.unpack("!H", raw[2:4])[0]
    if HEADER_SIZE + length != len(raw):
        raise ParseError(f"STUN header says {length} bytes of attributes, got {len(raw) - 20}")
    out: list[tuple[int, int, int]] = []
    pos = HEADER_SIZE
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise ParseError(f"truncated attribute header at offset {pos}")
        attr_type, attr_len = struct.unpack("!HH", raw[pos:pos + 4])
        end = pos + 4 + attr_len + (-attr_len % 4)
        if end > len(raw):
            raise ParseError(f"attribute 0x{attr_type:04X} at offset {pos} overruns the message")
        out.append((pos, attr_type, attr_len))
        pos = end
    return out


def verify_integrity(raw: bytes, key: bytes) -> bool:
    """True if ``raw`` carries a MESSAGE-INTEGRITY that matches ``key`` (RFC 8489 §9.1.3).

    False when it has none or when it does not match; ParseError if ``raw`` is malformed.
    """
    for pos, attr_type, attr_len in attribute_offsets(raw):
        if attr_type == INTEGRITY_TYPE:
            if attr_len != 20:
                return False
            expected = integrity_hmac(raw[:pos], key)
            return hmac.compare_digest(expected, raw[pos + 4:pos + 24])
    return False


def verify_fingerprint(raw: bytes) -> bool:
    """True if the last attribute of ``raw`` is a FINGERPRINT that matches (RFC 8489 §14.7)."""
    offsets = attribute_offsets(raw)
    if not offsets:
        return False
    pos, attr_type, attr_len = offsets[-1]
    if attr_type != FINGERPRINT_TYPE or attr_len != 4:
        return False
    value = struct.unpack("!I", raw[pos + 4:pos + 8])[0]
    return bool(value == fingerprint_value(raw[:pos]))
