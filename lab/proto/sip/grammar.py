"""RFC 3261 §25.1 grammar fragments shared by the header modules."""

from __future__ import annotations

import re
from typing import Final

TOKEN_CHARS: Final = r"A-Za-z0-9\-.!%*_+`'~"  # noqa: S105 (not a password)
TOKEN: Final = f"[{TOKEN_CHARS}]+"
TOKEN_RE: Final = re.compile(f"^{TOKEN}$")
LWS: Final = r"[ \t]*"


def is_token(text: str) -> bool:
    return TOKEN_RE.match(text) is not None


def split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside quoted strings and ``<...>`` (RFC 3261 §7.3.1 lists)."""
    if '"' not in text and "<" not in text:
        return text.split(sep)  # nothing to skip over: the common case, fast
    parts: list[str] = []
    depth = 0
    quoted = False
    escape = False
    start = 0
    for i, ch in enumerate(text):
        if quoted:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def unquote(text: str) -> str:
    """Content of a quoted-string without the quotes, quoted-pairs resolved."""
    out = []
    it = iter(text[1:-1])
    for ch in it:
        out.append(next(it, "") if ch == "\\" else ch)
    return "".join(out)


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
