"""Errors shared by every part of the lab.

Two families, after h11's split between local misuse and remote garbage:

* :class:`InputError`: a file or argument given by the user is wrong. It names the file, the line
  and the fix; the CLI prints it and exits with code 2, having built nothing.
* :class:`LabError`: the lab could not do what was asked (a kernel call failed, a daemon did not
  become ready). The CLI prints it and exits with code 1.

Protocol codecs declare their own parse errors (for example ``lab.proto.stun.ParseError``); those
never escape a daemon's read loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class UclabError(Exception):
    """Base of every error the CLI knows how to report."""

    exit_code = 1


@dataclass
class InputError(UclabError):
    """Bad user input: names the file (or argument), the line, what is wrong and the fix."""

    message: str
    path: Path | str | None = None
    line: int | None = None
    fix: str | None = None

    exit_code = 2

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        text = f"{where}{self.message}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class Interrupted(UclabError):
    """Ctrl-C: the message says the state the lab was left in (exit code 130)."""

    exit_code = 130


class LabError(UclabError):
    """The lab failed to do something it should have been able to do."""

    exit_code = 1
