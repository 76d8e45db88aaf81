"""The SDP codec's one declared parse error (peer garbage, see docs/architecture.md)."""

from __future__ import annotations


class ParseError(ValueError):
    """An SDP body or an ``a=candidate`` value does not follow RFC 4566 / RFC 5245 syntax."""
