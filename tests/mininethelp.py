"""Helpers for the Mininet tests: what a lab leaves behind, and what ``mn -c`` would do.

:func:`mn_c_plan` runs Mininet's own cleanup code (``mininet.clean.Cleanup.cleanup``, what
``mn -c`` runs) with its shell commands recorded instead of run, so a test can hold a running
lab against exactly what ``mn -c`` would kill and delete without running it on a shared
machine (it kills every ``ping`` and ``mnexec`` of the host and empties ``/tmp/*.log``).
"""

from __future__ import annotations

import contextlib
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import mininet.clean as clean

from lab.base.names import RUN_ROOT
from lab.kernel import processes
from tests.labhelp import lab_namespaces


def shell_pids(lab: str) -> list[int]:
    """Pids of the Mininet shells tagged for ``lab`` (``uclab:<lab>:<node>``)."""
    tag = f"uclab:{lab}:"
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
            and any(a.startswith(tag) for a in processes.cmdline(int(p.name)))]


def leftovers(lab: str) -> list[str]:
    """What of lab ``lab`` still exists: names under /run/netns, its run folder, its shells."""
    left = [f"/run/netns/{n}" for n in lab_namespaces(lab)]
    if (RUN_ROOT / lab).exists():
        left.append(str(RUN_ROOT / lab))
    left += [f"shell pid {pid}" for pid in shell_pids(lab)]
    return left


@dataclass
class CleanupPlan:
    """What ``mn -c`` would do, from Mininet's own cleanup code."""

    commands: list[str] = field(default_factory=list)
    killall: set[str] = field(default_factory=set)  #: process names (killall NAME)
    patterns: list[str] = field(default_factory=list)  #: pkill -f / pgrep -f patterns
    links: list[str] = field(default_factory=list)  #: ip link del NAME (root namespace)

    def victims(self, pids: list[int]) -> dict[int, str]:
        """Which of ``pids`` this plan would kill, and why."""
        out = {}
        for pid in pids:
            comm = _comm(pid)
            argv = " ".join(processes.cmdline(pid))
            if comm in self.killall:
                out[pid] = f"killall {comm}"
            hit = next((p for p in self.patterns if re.search(p, argv)), None)
            if hit is not None:
                out[pid] = f"pkill -9 -f {hit}"
        return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


_READ_ONLY = ("ip link show", "ps ax")


def mn_c_plan() -> CleanupPlan:
    """Run ``mininet.clean.Cleanup.cleanup`` with its commands recorded; the read-only ones
    (``ip link show | egrep``, ``ps ax | egrep``) really run, so the links it would delete are
    the machine's."""
    plan = CleanupPlan()

    def sh(cmd: str) -> str:
        plan.commands.append(cmd)
        if cmd.startswith(_READ_ONLY):
            return subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True,
                                  check=False).stdout
        words = shlex.split(cmd.replace("2> /dev/null", ""))
        if words[:1] == ["killall"]:
            plan.killall.update(w for w in words[1:] if not w.startswith("-"))
        elif words[:3] == ["pkill", "-9", "-f"]:
            plan.patterns.append(words[3])
        for part in cmd.strip("() ").split(";"):
            if part.strip().startswith("ip link del "):
                plan.links.append(part.split()[-1])
        return ""

    def killprocs(pattern: str) -> None:
        sh(f"pkill -9 -f {shlex.quote(pattern)}")

    screens = partial(killprocs, "mnexec.*socat")  # mininet.term.cleanUpScreens
    with _patched(clean, sh=sh, killprocs=killprocs, cleanUpScreens=screens):
        clean.Cleanup.cleanup()
    return plan


@contextlib.contextmanager
def _patched(module: object, **names: object) -> Iterator[None]:
    saved = {k: getattr(module, k) for k in names}
    for k, v in names.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(module, k, v)
