"""Building and sending a TURN server's responses (RFC 8489 §6.3, §9.2.4): success and error
responses with SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT as the request calls for, and a log
line for every refusal."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from lab.proto.stun import (
    Attribute,
    Message,
    MessageClass,
    Method,
    Nonce,
    ParseError,
    Realm,
    Software,
)
from lab.proto.turn.auth import Credentials
from lab.proto.turn.config import TurnServerConfig
from lab.proto.turn.state import Action, ClientConnection, CloseConnection, SendToClient

log = logging.getLogger("lab.proto.turn.server")


@dataclass
class Request:
    """A request being answered: where it came from and how to sign the answer."""

    conn: ClientConnection
    msg: Message
    fingerprint: bool
    key: bytes | None = None
    username: str | None = None


class Responder:
    """The response side of the server core."""

    def __init__(self, config: TurnServerConfig, credentials: Credentials) -> None:
        self.config = config
        self.credentials = credentials

    def _encode(self, req: Request, msg: Message) -> SendToClient:
        attrs = list(msg.attributes)
        if self.config.software:
            attrs.append(Software(self.config.software))
        full = Message(msg.method, msg.cls, msg.transaction_id, tuple(attrs))
        raw = full.encode(integrity_key=req.key, fingerprint=req.fingerprint)
        return SendToClient(req.conn.conn, raw, full)

    def _success(self, req: Request, attrs: Iterable[Attribute]) -> SendToClient:
        req.conn.refusals = 0
        return self._encode(req, req.msg.success(attrs))

    def _refuse(self, req: Request, code: int, reason: str, now: float, *,
                challenge: bool = False, extra: Iterable[Attribute] = ()) -> list[Action]:
        """An error response with the RFC code and a reason; 401/438 carry REALM and NONCE."""
        attrs = list(extra)
        if challenge:
            attrs += [Realm(self.config.realm),
                      Nonce(self.credentials.nonces.issue(now, bound_to(req.conn)))]
            req.key = None  # RFC 8489 §9.2.4: no MESSAGE-INTEGRITY on 401/438
        quiet = code == 401 and reason == "Unauthorized"  # the usual first challenge
        out = self._spend(req.conn)
        (log.info if quiet else log.warning)(
            "TURN %s: %s refused: %d %s", who(req.conn), req.msg.method.name, code, reason)
        return [self._encode(req, req.msg.error_response(code, reason, attrs)), *out]

    def _spend(self, c: ClientConnection) -> list[Action]:
        """One more refusal on ``c``: past ``max_refusals`` in a row the connection is closed
        (a peer sending junk requests gets a bounded share of the server, as with coturn)."""
        c.refusals += 1
        if self.config.max_refusals and c.refusals > self.config.max_refusals:
            log.warning("TURN %s: %d refusals in a row: closing the connection", who(c),
                        c.refusals)
            return [CloseConnection(c.conn, "too many refused requests")]
        return []

    def _malformed(self, c: ClientConnection, raw: bytes, exc: ParseError) -> list[Action]:
        """A framed message that does not parse: 400 if it is a request we can answer."""
        log.warning("TURN %s: malformed message: %s", who(c), exc)
        out = self._spend(c)
        if len(raw) < 20 or (raw[0] & 0x01, raw[1] & 0x10) != (0, 0):
            return out
        mtype = int.from_bytes(raw[:2], "big")
        method = (mtype & 0x000F) | ((mtype >> 1) & 0x0070) | ((mtype >> 2) & 0x0F80)
        request = Message(Method(method), MessageClass.REQUEST, raw[8:20])
        msg = request.error_response(400, f"Bad Request: {exc}")
        return [SendToClient(c.conn, msg.encode(), msg), *out]

def who(c: ClientConnection) -> str:
    return f"{c.client[0]}:{c.client[1]}"


def bound_to(c: ClientConnection) -> bytes:
    """The connection a nonce is issued for: the client's 5-tuple (RFC 8656 §5)."""
    return f"{c.client[0]}:{c.client[1]}>{c.server[0]}:{c.server[1]}".encode()
