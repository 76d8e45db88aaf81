"""Text checks for wire formats, which are ASCII: ``str.isdigit()`` also accepts "²" (which
``int()`` refuses) and "٣" (which ``int()`` reads as 3), neither a digit of SIP or SDP."""

from __future__ import annotations


def is_digits(text: str) -> bool:
    """One or more ASCII digits 0-9, nothing else."""
    return text.isascii() and text.isdigit()
