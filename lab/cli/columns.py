"""Tables whose cells are never cut: an address, a label or a path is one word, and a column is
at least as wide as its longest word; longer text wraps between words. On a narrow terminal
(80 columns, a CI log) the other columns give way, and a table wider than the terminal wraps
instead of ending in an ellipsis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

#: Words up to this long are never broken (an IPv4 address with its port is at most 21
#: characters); a longer one (a path, a command line) folds onto the next line.
WHOLE = 24


def table(columns: Sequence[str], rows: Sequence[Sequence[str]], *,
          right: Sequence[str] = (), compact: bool = False, **options: Any) -> Table:
    """A rich table of ``rows`` (rich markup allowed), columns named ``columns``; those in
    ``right`` right-aligned. ``compact``: every column exactly as wide as its longest word
    (cells of short words, one to a line: the table fits 80 columns whatever the terminal)."""
    out = Table(**options)
    for i, name in enumerate(columns):
        words = [w for row in rows for w in Text.from_markup(row[i]).plain.split()]
        widest = max([len(name), *(len(w) for w in words if len(w) <= WHOLE)])
        out.add_column(name, min_width=widest, max_width=widest if compact else None,
                       overflow="fold",
                       justify="right" if name in right else "left")
    for row in rows:
        out.add_row(*row)
    return out
