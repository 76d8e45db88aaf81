"""CSeq (RFC 3261 §20.16): a 31-bit sequence number and the method."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from lab.proto.ascii import bounded_int
from lab.proto.sip.errors import ParseError
from lab.proto.sip.grammar import TOKEN

CSEQ_RE: Final = re.compile(rf"^(\d+)[ \t]+({TOKEN})$")
MAX_CSEQ: Final = 2**31 - 1


@dataclass(frozen=True)
class CSeq:
    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"

    @classmethod
    def parse(cls, text: str) -> CSeq:
        m = CSEQ_RE.match(text.strip())
        if m is None:
            raise ParseError(f"bad CSeq {text.strip()!r}")
        seq = bounded_int(m.group(1), MAX_CSEQ)
        if seq is None:
            raise ParseError(f"CSeq {m.group(1)[:20]} is not a number up to 2**31 - 1")
        return cls(seq, m.group(2))
