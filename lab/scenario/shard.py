"""Deterministic slices of a set of named items: ``--shard K/N`` (K from 1 to N).

    shard = Shard.parse("2/3")              # InputError naming the flag and the fix
    mine = shard.select(scenario.names())   # this machine's share of the library

Each name is ranked by the SHA-256 of its text and the ranks are dealt round-robin: item at
rank ``r`` belongs to shard ``r mod N + 1``. The slices therefore

* do not depend on the order the names come in (file system listing, glob order),
* are a partition: every name is in exactly one of the N shards, their union is the whole set,
* differ in size by at most one (a plain ``hash mod N`` can leave one shard with most of a
  small library and another empty).

Adding or removing a name can move other names between shards; within one run of N shards
over one library every name is run exactly once, which is what a CI farm needs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from lab.base.errors import InputError

_SPEC = re.compile(r"(\d+)/(\d+)")


def rank_key(name: str) -> tuple[str, str]:
    """The sort key of a name: its SHA-256 (the name breaks the tie of equal digests)."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest(), name


@dataclass(frozen=True)
class Shard:
    """The K-th of N slices (1 <= K <= N)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self.index}/{self.count}: K must be from 1 to N")

    @classmethod
    def parse(cls, text: str, where: str = "--shard") -> Shard:
        m = _SPEC.fullmatch(text.strip())
        fix = "write K/N with 1 <= K <= N, e.g. --shard 2/3 (the second of three slices)"
        if m is None:
            raise InputError(f"{text!r} is not K/N", where, fix=fix)
        k, n = int(m.group(1)), int(m.group(2))
        if not 1 <= k <= n:
            raise InputError(f"shard {k}/{n}: K must be from 1 to N", where, fix=fix)
        return cls(k, n)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, names: Iterable[str]) -> list[str]:
        """The names of this shard, in rank order."""
        ranked = sorted(set(names), key=rank_key)
        return [name for r, name in enumerate(ranked) if r % self.count == self.index - 1]


def partition(names: Iterable[str], count: int) -> list[list[str]]:
    """All N slices, shard 1 first."""
    items = list(names)
    return [Shard(k, count).select(items) for k in range(1, count + 1)]
