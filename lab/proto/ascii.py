"""Text checks for wire formats, which are ASCII: ``str.isdigit()`` also accepts "²" (which
``int()`` refuses) and "٣" (which ``int()`` reads as 3), neither a digit of SIP or SDP.

Every number read from the wire goes through :func:`bounded_int`: Python's ``int()`` refuses a
string of more than 4,300 digits with a plain ``ValueError`` (CVE-2020-10735), which would
escape a codec that declares only its own parse error; the bound is checked on the length of
the text first, so no input makes ``int()`` see more digits than the bound has.
"""

from __future__ import annotations


def is_digits(text: str) -> bool:
    """One or more ASCII digits 0-9, nothing else."""
    return text.isascii() and text.isdigit()


def bounded_int(text: str, high: int) -> int | None:
    """The value of ``text`` if it is one or more ASCII digits and at most ``high``, else None.

    Leading zeros are allowed (``007`` is 7, RFC 3261 §25.1 ``1*DIGIT``); the text is
    measured before it is converted, so a 100,000-digit number costs a length check."""
    if not is_digits(text):
        return None
    significant = text.lstrip("0")
    if len(significant) > len(str(high)):
        return None
    value = int(significant or "0")
    return value if value <= high else None
