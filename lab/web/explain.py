"""Each canonical step's explanation, read from ``lab/web/steps.yaml`` (the one place where the
words live): what happens, why, and an RFC reference. The web pages and ``uclab tour`` show
them beside the ladder.

    text = explanations()[18]       # Explanation(step=18, what=..., why=..., rfc="RFC 6062 §4.4")
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from lab.base import datafile
from lab.ladder.steps import STEPS

FILE = Path(__file__).with_name("steps.yaml")
_RFC = re.compile(r"^RFC \d{3,5}( §[\d.]+)?$")


@dataclass(frozen=True)
class Explanation:
    step: int
    what: str
    why: str
    rfc: str  # "RFC 6062 §4.4"

    @property
    def rfc_url(self) -> str:
        """The RFC's page at the IETF (shown as a link; the lab itself needs no network)."""
        number = self.rfc.split()[1]
        return f"https://www.rfc-editor.org/rfc/rfc{number}"

    def as_dict(self) -> dict[str, object]:
        return {"step": self.step, "what": self.what, "why": self.why, "rfc": self.rfc}


@dataclass(frozen=True)
class _File:
    steps: tuple[Explanation, ...]


def load(path: Path = FILE) -> dict[int, Explanation]:
    """Read and check ``path``: every step of flow.md §3 exactly once, an RFC reference each
    (``RFC N`` or ``RFC N §x.y``); InputError names the line otherwise."""
    doc = datafile.load(path)
    read = doc.read(_File)
    out: dict[int, Explanation] = {}
    for i, ex in enumerate(read.steps):
        keys: datafile.KeyPath = ("steps", i)
        if ex.step not in {s.number for s in STEPS}:
            raise doc.error((*keys, "step"), f"step {ex.step} is not a step of flow.md §3",
                            fix="use 1-33")
        if ex.step in out:
            raise doc.error((*keys, "step"), f"step {ex.step} is explained twice",
                            fix="keep one entry per step")
        if not _RFC.match(ex.rfc):
            raise doc.error((*keys, "rfc"), f"{ex.rfc!r} is not an RFC reference",
                            fix="write it as 'RFC 6062 §4.4'")
        out[ex.step] = ex
    missing = sorted({s.number for s in STEPS} - set(out))
    if missing:
        raise doc.error(("steps",), f"steps {missing} have no explanation",
                        fix="add an entry for each")
    return out


@functools.cache
def explanations() -> dict[int, Explanation]:
    return load()
