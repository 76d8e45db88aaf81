"""name-addr / addr-spec values: From, To, Contact, Route, Record-Route (RFC 3261 §20.10, §25.1).

``"Display" <sip:uri>;tag=x`` or ``sip:uri;tag=x`` (in the latter form the URI can carry neither
parameters nor headers: they belong to the header, §20).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

from lab.proto.sip.errors import ParseError
from lab.proto.sip.grammar import TOKEN, quote, unquote
from lab.proto.sip.params import Params, get_param, parse_params, render_params, set_param
from lab.proto.sip.uri import Uri

DISPLAY_TOKENS_RE: Final = re.compile(f"^{TOKEN}(?:[ \\t]+{TOKEN})*$")


@dataclass(frozen=True)
class NameAddr:
    """An address with optional display name and header parameters (``tag``, ``expires``...)."""

    uri: Uri
    display: str | None = None
    params: Params = ()

    @property
    def tag(self) -> str | None:
        return get_param(self.params, "tag") or None

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    def with_tag(self, tag: str) -> NameAddr:
        return replace(self, params=set_param(self.params, "tag", tag))

    def __str__(self) -> str:
        name = f"{quote(self.display)} " if self.display is not None else ""
        return f"{name}<{self.uri}>{render_params(self.params)}"

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip()
        if text == "*":
            raise ParseError("'*' is not an address here")
        display: str | None = None
        if text.startswith('"'):
            end = _end_of_quoted(text)
            display = unquote(text[:end + 1])
            text = text[end + 1:].lstrip()
            if not text.startswith("<"):
                raise ParseError("quoted display name not followed by <URI>")
        lt = text.find("<")
        if lt >= 0:
            name = text[:lt].strip()
            if name:
                if display is not None or not DISPLAY_TOKENS_RE.match(name):
                    raise ParseError(f"display name {name!r} must be tokens or quoted")
                display = name
            gt = text.find(">", lt)
            if gt < 0:
                raise ParseError("'<' without '>' in address")
            uri_text, rest = text[lt + 1:gt], text[gt + 1:]
            if uri_text != uri_text.strip():
                raise ParseError("spaces inside <...> around the URI")
            return cls(Uri.parse(uri_text), display, parse_params(rest, "address"))
        uri_text, semi, rest = text.partition(";")
        uri_text = uri_text.strip()
        if "?" in uri_text or "," in uri_text:
            raise ParseError("a URI with headers or commas needs <...>")
        return cls(Uri.parse(uri_text), None, parse_params(semi + rest, "address"))


def _end_of_quoted(text: str) -> int:
    i = 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i
        i += 1
    raise ParseError("unterminated quoted string in display name")
