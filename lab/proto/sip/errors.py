"""Errors of the SIP core, split as h11 does: the peer sent garbage, or we misused the API."""

from __future__ import annotations


class ParseError(ValueError):
    """The peer sent something that is not SIP (RFC 3261 §25). ``status`` is the response a
    server should send if it can (400 by default, 505 for an unknown version, 413 when too
    large); None when no response can be built (the connection is closed instead)."""

    def __init__(self, reason: str, status: int | None = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ProtocolError(RuntimeError):
    """Local misuse of a core (an event that the state machine does not accept)."""
