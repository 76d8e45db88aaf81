"""The parent's handle on the fork server (:mod:`nodes.forkserver`), started early: it
imports the protocol stacks while the lab is being built, then forks the daemons
(:mod:`lab.daemons.supervisor` records them).

Tiny on purpose: ``uclab run`` and ``uclab up`` start it before importing anything else.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.base.state import RunDir


class Launcher:
    """:mod:`nodes.forkserver` started before it is needed: it imports the protocol stacks
    while the lab is being built, then forks the daemons when :meth:`launch` gives it the nodes.
    It lives in the root namespace only until then, and leaves by itself if never used."""

    def __init__(self) -> None:
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - read when the launcher is done
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "nodes.forkserver", "--run", "-"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._err)

    def launch(self, run: RunDir, specs: Sequence[str], timeout: float) -> tuple[int, str, str]:
        """Give it the run folder and ``node=namespace:role`` specs; (exit code, stdout,
        stderr) once every daemon is forked."""
        proc, self.proc = self.proc, None
        if proc is None:
            raise RuntimeError("the daemon launcher was used already")
        try:
            out, _ = proc.communicate(f"{run.path}\n{' '.join(specs)}\n".encode(), timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        self._err.seek(0)
        err = self._err.read().decode(errors="replace")
        self._err.close()
        return proc.returncode, out.decode(errors="replace"), err

    def close(self) -> None:
        """Unused: let it go (it reads end of file and leaves)."""
        for lab in [k for k, v in _early.items() if v is self]:
            del _early[lab]
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(b"", timeout=5)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self._err.close()


_early: dict[str, Launcher] = {}


def prelaunch(lab: str) -> Launcher:
    """Start lab ``lab``'s launcher now; the ``daemons`` step uses it. Close it if the lab
    is not built after all."""
    launcher = _early.pop(lab, None) or Launcher()
    _early[lab] = launcher
    return launcher


def take(lab: str) -> Launcher:
    """Lab ``lab``'s early launcher, or a new one."""
    return _early.pop(lab, None) or Launcher()
