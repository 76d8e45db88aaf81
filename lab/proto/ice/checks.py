"""STUN Binding messages of ICE connectivity checks (RFC 5245 §7, RFC 8445 §7.2, MS-ICE2 §2.2.2).

A check request carries, in this order::

    USERNAME "<remote ufrag>:<local ufrag>"        RFC 5245 §7.1.2.3
    PRIORITY (prflx type preference, same local preference and component)   §7.1.2.1
    ICE-CONTROLLING or ICE-CONTROLLED with the tie-breaker                  §7.1.2.2
    USE-CANDIDATE (controlling agent nominating; aggressive nomination)      §8.1.1.2
    IMPLEMENTATION-VERSION 3, CANDIDATE-IDENTIFIER (MS-ICE2 agents only)     MS-ICE2 §2.2.2
    MESSAGE-INTEGRITY (short-term key: the remote password), FINGERPRINT    §7.1.2.3, §7.1.2.4

With 4-character ufrags on both sides that is 20 + 16 + 8 + 12 + 4 + 8 + 8 + 24 + 8 = 108 bytes:
the ``00 6c 00 01`` of the tech note once framed per RFC 4571 (docs/ice-media.md).
Validation (RFC 5245 §7.2.1, §7.1.3) raises :class:`CheckError` with the STUN code to answer.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

from lab.proto.addr import Addr
from lab.proto.sdp import Candidate
from lab.proto.stun import (
    Attribute,
    CandidateIdentifier,
    IceControlled,
    IceControlling,
    ImplementationVersion,
    Message,
    MessageClass,
    Method,
    Priority,
    UseCandidate,
    Username,
    XorMappedAddress,
    parse,
    short_term_key,
    verify_fingerprint,
    verify_integrity,
)
from lab.proto.stun import ParseError as StunParseError

# MS-ICE2 §2.2.2.2: 2 means "only RFC3489bis-02 message formats", 3 "RFC 5389 message formats";
# our checks are RFC 5389 messages (magic cookie, XOR-MAPPED-ADDRESS, FINGERPRINT)
MS_IMPLEMENTATION_VERSION: Final = 3
PRFLX_TYPE_PREFERENCE: Final = 110  # RFC 5245 §4.1.2.2
ICE_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class CheckError(Exception):
    """A received check message that must be refused: ``code`` is the STUN error to answer
    (400, 401, 420, 487), or 0 when the message is to be dropped silently."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}" if code else reason)
        self.code = code
        self.reason = reason


def new_ufrag_pwd(ufrag_len: int = 4, pwd_len: int = 24) -> tuple[str, str]:
    """Fresh ICE credentials of ice-chars (RFC 5245 §15.4: ufrag >= 4, pwd >= 22 chars).

    Four-character ufrags are what MS-ICE2 clients send; they make the 108-byte request."""
    if ufrag_len < 4 or pwd_len < 22:
        raise ValueError("RFC 5245 §15.4 wants a ufrag of 4+ and a password of 22+ characters")
    pick = secrets.choice
    return ("".join(pick(ICE_CHARS) for _ in range(ufrag_len)),
            "".join(pick(ICE_CHARS) for _ in range(pwd_len)))


def new_tie_breaker() -> int:
    """A random 64-bit tie-breaker (RFC 5245 §5.2)."""
    return secrets.randbits(64)


def check_priority(local: Candidate) -> int:
    """The PRIORITY of a check from ``local``: its priority with the peer-reflexive type
    preference (RFC 5245 §7.1.2.1), keeping its local preference and component."""
    return (PRFLX_TYPE_PREFERENCE << 24) | (local.priority & 0xFFFFFF)


def foundation_id(foundation: str) -> bytes:
    """CANDIDATE-IDENTIFIER value: the foundation, NUL-padded to 4 bytes (MS-ICE2 §2.2.2.1)."""
    raw = foundation.encode("ascii")
    return raw + bytes(-len(raw) % 4) if raw else bytes(4)


def binding_request(
    *, local_ufrag: str, remote_ufrag: str, remote_pwd: str, local: Candidate, controlling: bool,
    tie_breaker: int, use_candidate: bool, ms_ice2: bool, transaction_id: bytes,
) -> bytes:
    """The bytes of one connectivity check (RFC 5245 §7.1.2)."""
    attrs: list[Attribute] = [
        Username(f"{remote_ufrag}:{local_ufrag}"),
        Priority(check_priority(local)),
        IceControlling(tie_breaker) if controlling else IceControlled(tie_breaker),
    ]
    if use_candidate and controlling:
        attrs.append(UseCandidate())
    if ms_ice2:
        attrs += [ImplementationVersion(MS_IMPLEMENTATION_VERSION),
                  CandidateIdentifier(foundation_id(local.foundation))]
    msg = Message(Method.BINDING, MessageClass.REQUEST, transaction_id, tuple(attrs))
    return msg.encode(integrity_key=short_term_key(remote_pwd), fingerprint=True)


@dataclass(frozen=True)
class InboundCheck:
    """A validated check request from the peer."""

    message: Message
    priority: int
    controlling: bool
    tie_breaker: int
    use_candidate: bool


def parse_check_message(raw: bytes) -> Message:
    """Parse a framed STUN payload; CheckError(0) for garbage (dropped, RFC 5389 §7.3)."""
    try:
        msg = parse(raw)
    except StunParseError as exc:
        raise CheckError(0, f"not a STUN message: {exc}") from None
    if msg.method is not Method.BINDING:
        raise CheckError(0, f"{msg.describe()} is not a Binding message")
    if not verify_fingerprint(raw):
        raise CheckError(0, "FINGERPRINT missing or wrong (RFC 5245 §7.2)")
    return msg


def verify_request(raw: bytes, msg: Message, *, local_ufrag: str, local_pwd: str) -> InboundCheck:
    """RFC 5245 §7.2.1 / RFC 5389 §10.1.2: credentials and ICE attributes of a request."""
    unknown = msg.unknown_comprehension_required()
    if unknown:
        raise CheckError(420, f"unknown attributes {', '.join(hex(t) for t in unknown)}")
    user, prio = msg.get(Username), msg.get(Priority)
    if user is None or prio is None:
        raise CheckError(400, "a check needs USERNAME and PRIORITY")
    if not user.value.startswith(f"{local_ufrag}:"):
        raise CheckError(401, f"USERNAME {user.value!r} is not for ufrag {local_ufrag!r}")
    if not verify_integrity(raw, short_term_key(local_pwd)):
        raise CheckError(401, "MESSAGE-INTEGRITY missing or wrong")
    ctl, ctd = msg.get(IceControlling), msg.get(IceControlled)
    if ctl is not None and ctd is None:
        return InboundCheck(msg, prio.value, True, ctl.value, msg.has(UseCandidate))
    if ctd is not None and ctl is None:
        return InboundCheck(msg, prio.value, False, ctd.value, msg.has(UseCandidate))
    raise CheckError(400, "a check carries exactly one of ICE-CONTROLLING / ICE-CONTROLLED")


def success_response(request: Message, mapped: Addr, *, local_pwd: str,
                     ms_ice2: bool) -> bytes:
    """Binding success: XOR-MAPPED-ADDRESS of the request's source (RFC 5245 §7.2.1.2)."""
    attrs: list[Attribute] = [XorMappedAddress(mapped[0], mapped[1])]
    if ms_ice2:
        attrs.append(ImplementationVersion(MS_IMPLEMENTATION_VERSION))
    msg = request.success(attrs)
    return msg.encode(integrity_key=short_term_key(local_pwd), fingerprint=True)


def error_response(request: Message, code: int, reason: str, *, local_pwd: str | None) -> bytes:
    """Binding error (RFC 5389 §10.1.2): with integrity unless the credentials were the issue."""
    msg = request.error_response(code, reason)
    key = short_term_key(local_pwd) if local_pwd is not None and code not in (400, 401) else None
    return msg.encode(integrity_key=key, fingerprint=True)


def verify_response(raw: bytes, *, remote_pwd: str) -> None:
    """RFC 5245 §7.1.3: a response must carry MESSAGE-INTEGRITY with the remote password;
    raises CheckError(0) (drop it) when it does not."""
    if not verify_integrity(raw, short_term_key(remote_pwd)):
        raise CheckError(0, "response MESSAGE-INTEGRITY missing or wrong")
