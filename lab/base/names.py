"""Names and places at run time (docs/architecture.md): the lab name, its namespaces, its
run folder. Tiny on purpose: ``uclab down`` and the node daemons import it cheaply."""

from __future__ import annotations

import re
from pathlib import Path

from lab.base.errors import InputError

DEFAULT_LAB = "uclab"
RUN_ROOT = Path("/run/uclab")
# No '-' in lab names: namespaces are <lab>-<node>, and node names may contain '-', so a
# hyphenated lab name could produce another lab's namespace name.
LAB_NAME = re.compile(r"[a-z][a-z0-9]{0,11}")


def namespace(lab: str, node: str) -> str:
    """The network namespace of ``node`` in lab ``lab``: ``uclab-cms``."""
    return f"{lab}-{node}"


def check_lab_name(name: str) -> str:
    """A lab name: 1-12 lower-case letters and digits, starting with a letter."""
    if not LAB_NAME.fullmatch(name):
        raise InputError(f"invalid lab name {name!r}", "--name",
                         fix="use 1-12 characters a-z 0-9, starting with a letter (e.g. uclab2)")
    return name


def run_dir(lab: str, root: Path = RUN_ROOT) -> Path:
    """``/run/uclab/<lab>``."""
    return root / lab
