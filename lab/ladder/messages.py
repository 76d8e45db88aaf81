"""The ladder's view of one SIP or STUN message, read with the protocol packages' codecs."""

from __future__ import annotations

import dataclasses

from lab.ladder.events import Endpoint, SipInfo, StunInfo
from lab.proto.ascii import bounded_int
from lab.proto.sip.errors import ParseError as SipParseError
from lab.proto.sip.message import Request, parse
from lab.proto.stun import (
    ConnectionId,
    ErrorCode,
    Fingerprint,
    Lifetime,
    Message,
    MessageIntegrity,
    Nonce,
    Realm,
    RequestedTransport,
    UseCandidate,
    Username,
    XorMappedAddress,
    XorPeerAddress,
    XorRelayedAddress,
)

#: Headers that explain a failure in words (RFC 3261 §20.43 Warning, RFC 3326 Reason, and
#: Microsoft's ms-diagnostics / ms-diagnostics-public, MS-SIPRE §2.2.2.6).
DIAGNOSTIC_HEADERS = ("Warning", "Reason", "ms-diagnostics", "ms-diagnostics-public")


def method_name(msg: Message) -> str:
    """``CREATE_PERMISSION`` -> ``CreatePermission`` (the names RFC 8656 and RFC 6062 use)."""
    name = msg.method.name
    if name.startswith("METHOD_"):
        return name
    return "".join(part.title() for part in name.split("_"))


def stun_info(msg: Message) -> StunInfo:
    """The attributes of a STUN/TURN message that the ladder shows or checks."""
    err = msg.get(ErrorCode)
    mapped, relayed = msg.get(XorMappedAddress), msg.get(XorRelayedAddress)
    cid, transport = msg.get(ConnectionId), msg.get(RequestedTransport)
    lifetime, user, realm = msg.get(Lifetime), msg.get(Username), msg.get(Realm)
    return StunInfo(
        method=method_name(msg),
        cls=msg.cls.name.lower(),
        transaction_id=msg.transaction_id.hex(),
        error=(err.code, err.reason) if err is not None else None,
        xor_mapped=Endpoint(mapped.host, mapped.port) if mapped else None,
        xor_relayed=Endpoint(relayed.host, relayed.port) if relayed else None,
        xor_peer=tuple(Endpoint(p.host, p.port) for p in msg.get_all(XorPeerAddress)),
        connection_id=cid.value if cid is not None else None,
        requested_transport=transport.protocol if transport is not None else None,
        lifetime=lifetime.value if lifetime is not None else None,
        username=user.value if user is not None else None,
        realm=realm.value if realm is not None else None,
        nonce=msg.has(Nonce),
        integrity=msg.has(MessageIntegrity),
        fingerprint=msg.has(Fingerprint),
        use_candidate=msg.has(UseCandidate),
        attributes=tuple((attr.NAME, attribute_text(attr)) for attr in msg.attributes),
    )


def attribute_text(attr: object) -> str:
    """An attribute's value in words: ``host:port`` for an address, its fields otherwise
    (bytes in hex, cut after 32)."""
    host, port = getattr(attr, "host", None), getattr(attr, "port", None)
    if host is not None and port is not None:
        return f"{host}:{port}"
    if not dataclasses.is_dataclass(attr):
        return ""
    parts = []
    for f in dataclasses.fields(attr):
        value = getattr(attr, f.name)
        if isinstance(value, bytes):
            value = value[:32].hex(" ") + (" ..." if len(value) > 32 else "")
        parts.append(f"{f.name}={value}")
    return ", ".join(parts)


def sip_info(data: bytes) -> SipInfo:
    """A SIP message read with ``lab.proto.sip``; one that codec refuses still gets its start
    line and the headers that can be read, so a customer's odd message stays on the ladder."""
    try:
        return _strict(data)
    except SipParseError:
        return _loose(data)


def _strict(data: bytes) -> SipInfo:
    msg = parse(data)
    diagnostics = tuple(f"{h}: {v}" for h in DIAGNOSTIC_HEADERS for v in msg.get_all(h))
    first = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    return SipInfo(
        start_line=first,
        method=msg.method if isinstance(msg, Request) else None,
        status=None if isinstance(msg, Request) else msg.status,
        reason="" if isinstance(msg, Request) else msg.reason,
        call_id=msg.call_id, cseq=msg.cseq.seq, cseq_method=msg.cseq.method,
        from_tag=msg.from_.tag or "", to_tag=msg.to.tag or "",
        content_type=msg.content_type or "", body=msg.body.decode("utf-8", "replace"),
        diagnostics=diagnostics, text=data.decode("utf-8", "replace"),
    )


def _loose(data: bytes) -> SipInfo:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    first = lines[0]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    cseq = (headers.get("cseq") or "0 ?").split()
    parts = first.split(" ", 2)
    is_response = first.startswith("SIP/")
    status = bounded_int(parts[1], 999) if is_response and len(parts) > 1 else None
    return SipInfo(
        start_line=first, method=None if is_response else parts[0], status=status,
        reason=parts[2] if is_response and len(parts) > 2 else "",
        call_id=headers.get("call-id") or headers.get("i") or "",
        cseq=bounded_int(cseq[0], 2**32 - 1) or 0,
        cseq_method=cseq[1] if len(cseq) > 1 else "",
        from_tag="", to_tag="", content_type=headers.get("content-type", ""),
        body=body.decode("utf-8", "replace"),
        diagnostics=tuple(f"{h}: {headers[h.lower()]}" for h in DIAGNOSTIC_HEADERS
                          if h.lower() in headers),
        text=data.decode("utf-8", "replace"),
    )
