"""The one error the RTP/RTCP codecs raise on peer input."""

from __future__ import annotations


class ParseError(ValueError):
    """The peer sent bytes that are not a well-formed RTP or RTCP packet (RFC 3550 §5.1, §6.4)."""
