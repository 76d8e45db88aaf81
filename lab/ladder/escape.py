"""Text from the wire, made safe for where it is shown: a control byte in a reason phrase (a
fuzzed or broken peer) must neither move a terminal's cursor nor make an HTML or SVG file
invalid. Every renderer passes wire text through :func:`visible`."""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """``text`` with every control character (C0 but tab, DEL, C1) written as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
