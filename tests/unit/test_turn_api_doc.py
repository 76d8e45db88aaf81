"""docs/turn.md shows the TURN cores' API as a program and what it printed: the program still
runs and still prints exactly that."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "turn.md"


def test_the_documented_core_exchange_prints_what_the_page_shows() -> None:
    section = PAGE.read_text().split("## The cores' API", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(?P<code>.*?)```\n\n```\n(?P<out>.*?)```", section, re.S)
    assert found is not None, "docs/turn.md: the cores' API example is missing"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(found["code"], str(PAGE), "exec"), {})  # the page's own code
    assert printed.getvalue() == found["out"]
