"""Long-term credential checks on the server side (RFC 8489 §9.2.4) and stateless nonces.

A nonce is ``<issue time in ms, hex>`` followed by an HMAC of it and of the connection it was
issued on (the client's 5-tuple, RFC 8656 §5) under a per-server secret, so a server can tell a
nonce it issued from a forged one, a fresh one from a stale one, and its own connection's from
another's (the exact bytes of a signed request replayed on another connection: 438) without
storing anything (RFC 8489 §9.2 leaves the nonce format to the server).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lab.proto.stun import (
    Message,
    MessageIntegrity,
    Nonce,
    Realm,
    Username,
    long_term_key,
    verify_integrity,
)


class NonceBook:
    """Issues and checks nonces; ``lifetime`` seconds after issue a nonce is stale (438)."""

    def __init__(self, lifetime: float, secret: bytes | None = None) -> None:
        self.lifetime = lifetime
        self.secret = secret if secret is not None else secrets.token_bytes(16)

    def _mac(self, stamp: bytes, bound: bytes) -> bytes:
        return hmac.new(self.secret, stamp + b"|" + bound, hashlib.sha256).hexdigest()[:16].encode()

    def issue(self, now: float, bound: bytes = b"") -> bytes:
        """A nonce for the connection named ``bound``."""
        stamp = b"%012x" % max(0, int(now * 1000))
        return stamp + self._mac(stamp, bound)

    def check(self, nonce: bytes, now: float, bound: Sequence[bytes] = (b"",)) -> str:
        """``""`` if valid, else ``"stale"`` or ``"invalid"`` (forged, or issued on a connection
        not among ``bound``)."""
        stamp, mac = nonce[:12], nonce[12:]
        if len(nonce) != 28 or not stamp.isascii():
            return "invalid"
        if not any(hmac.compare_digest(mac, self._mac(stamp, b)) for b in bound):
            return "invalid"
        try:
            issued = int(stamp, 16) / 1000
        except ValueError:
            return "invalid"
        return "stale" if now - issued > self.lifetime else ""


@dataclass(frozen=True)
class AuthResult:
    """Outcome of a credential check: ``code`` 0 means authenticated as ``username``."""

    code: int
    reason: str
    username: str | None = None
    key: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def challenge(self) -> bool:
        """401 and 438 answers carry REALM and a fresh NONCE (RFC 8489 §9.2.4)."""
        return self.code in (401, 438)


class Credentials:
    """The users of one realm and their long-term keys (RFC 8489 §9.2.2)."""

    def __init__(self, realm: str, users: Mapping[str, str], nonces: NonceBook) -> None:
        self.realm = realm
        self.nonces = nonces
        self.keys = {u: long_term_key(u, realm, p) for u, p in users.items()}

    def check(self, msg: Message, raw: bytes, now: float, bound: Sequence[bytes] = (b"",)
              ) -> AuthResult:
        """RFC 8489 §9.2.4, in its order: MI present, attributes present, nonce (issued for
        one of the connections ``bound``), user, MAC."""
        if msg.get(MessageIntegrity) is None:
            return AuthResult(401, "Unauthorized")
        user, realm, nonce = msg.get(Username), msg.get(Realm), msg.get(Nonce)
        if user is None or realm is None or nonce is None:
            return AuthResult(400, "MESSAGE-INTEGRITY without USERNAME, REALM and NONCE")
        state = self.nonces.check(nonce.value, now, bound)
        if state:
            return AuthResult(438, f"Stale Nonce ({state})")
        key = self.keys.get(user.value)
        if key is None or realm.value != self.realm:
            return AuthResult(401, "Unauthorized (unknown user or realm)")
        if not verify_integrity(raw, key):
            return AuthResult(401, "Unauthorized (MESSAGE-INTEGRITY mismatch)")
        return AuthResult(0, "", user.value, key)
