"""Header and URI parameters: ``;name[=value]`` lists (RFC 3261 §25.1 generic-param)."""

from __future__ import annotations

from lab.proto.sip.errors import ParseError
from lab.proto.sip.grammar import is_token, split_top

Params = tuple[tuple[str, str | None], ...]


def parse_params(text: str, what: str) -> Params:
    """Parse ``;a=1 ; b ;c="x y"`` (the leading ``;`` included) with LWS around ``;`` and ``=``."""
    text = text.strip()
    if not text:
        return ()
    if not text.startswith(";"):
        raise ParseError(f"{what}: expected ';' before parameters, got {text[:20]!r}")
    out: list[tuple[str, str | None]] = []
    for part in split_top(text[1:], ";"):
        name, eq, value = part.partition("=")
        name = name.strip()
        if not is_token(name):
            raise ParseError(f"{what}: bad parameter name {name!r}")
        if not eq:
            out.append((name, None))
            continue
        value = value.strip()
        if not value or (not value.startswith('"') and any(c in value for c in ' \t"')):
            raise ParseError(f"{what}: bad value for parameter {name!r}")
        if value.startswith('"') and (len(value) < 2 or not value.endswith('"')):
            raise ParseError(f"{what}: unterminated quoted parameter {name!r}")
        out.append((name, value))
    return tuple(out)


def render_params(params: Params) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def get_param(params: Params, name: str) -> str | None:
    """Value of a parameter (case-insensitive name); ``""`` for a flag; None if absent."""
    lname = name.lower()
    for n, v in params:
        if n.lower() == lname:
            return "" if v is None else v
    return None


def set_param(params: Params, name: str, value: str | None) -> Params:
    """Replace (or append) one parameter."""
    lname = name.lower()
    kept = tuple((n, v) for n, v in params if n.lower() != lname)
    return (*kept, (name, value))
