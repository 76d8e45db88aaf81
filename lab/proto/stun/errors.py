"""The one error the STUN codec raises on peer input."""

from __future__ import annotations


class ParseError(ValueError):
    """The peer sent bytes that are not a well-formed STUN message or frame.

    Raised by :func:`lab.proto.stun.parse`, the attribute decoders and the stream framers, and
    by nothing else on bad input. ``code`` is the STUN error code an agent should answer with
    when it answers at all (400 Bad Request, RFC 8489 §6.3.1).
    """

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code
