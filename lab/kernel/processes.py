"""Processes that live in network namespaces: spawn, identify, find, stop, exec.

A process is identified by its pid *and* its start time (``/proc/<pid>/stat`` field 22), so a
recycled pid is never mistaken for a process of the lab. The processes of a namespace are found
by the namespace's inode (``/proc/<pid>/ns/net``): precise, never a name pattern.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from lab.base.errors import LabError
from lab.kernel.namespaces import netns_id
from lab.kernel.setns import run_in_netns

log = logging.getLogger(__name__)
_children: list[subprocess.Popen[bytes]] = []  # spawned here; reaped when they end


@dataclass(frozen=True)
class ProcessId:
    """A process as the lab records it: pid plus start time (clock ticks since boot)."""

    pid: int
    start: int


def _stat(pid: int) -> list[bytes] | None:
    """Fields 3... of ``/proc/<pid>/stat`` (after the command name), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(b")") + 2:].split()


def start_time(pid: int) -> int | None:
    """Field 22 of ``/proc/<pid>/stat`` (clock ticks after boot), or None if it is gone."""
    fields = _stat(pid)
    return int(fields[19]) if fields is not None else None


def alive(proc: ProcessId) -> bool:
    """The very process (same start time) still runs (a zombie does not count)."""
    _reap()
    fields = _stat(proc.pid)
    return fields is not None and int(fields[19]) == proc.start and fields[0] not in (b"Z", b"X")


def _reap() -> None:
    """Collect the exit status of processes this process spawned (no zombies of ours)."""
    _children[:] = [c for c in _children if c.poll() is None]


def pids_in_netns(name: str) -> list[int]:
    """Pids of the processes whose network namespace is ``name`` (by inode; own pid excluded)."""
    return pids_in_namespaces([name])[name]


def pids_in_namespaces(names: Sequence[str]) -> dict[str, list[int]]:
    """``{namespace: [pid, ...]}`` from one pass over ``/proc`` (by inode; own pid excluded)."""
    idents = {ident: n for n in names if (ident := netns_id(n)) is not None}
    found: dict[str, list[int]] = {n: [] for n in names}
    if not idents:
        return found
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            st = Path(entry.path, "ns", "net").stat()
        except OSError:
            continue
        owner = idents.get((st.st_dev, st.st_ino))
        if owner is not None:
            found[owner].append(int(entry.name))
    return found


def cmdline(pid: int) -> list[str]:
    """argv of a process (empty if it is gone or a kernel thread)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def stop_processes(procs: Sequence[ProcessId], grace: float = 1.0) -> list[ProcessId]:
    """SIGTERM each still-alive process, wait up to ``grace`` s, SIGKILL the rest. Returns the
    processes that were signalled."""
    live = [p for p in procs if alive(p)]
    for p in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    waiting = list(live)
    while waiting and time.monotonic() < deadline:
        time.sleep(0.01)
        waiting = [p for p in waiting if alive(p)]
    for p in waiting:
        log.warning("pid %d ignored SIGTERM; killing it", p.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)
    return live


def kill_netns_processes(names: Sequence[str], grace: float = 1.0) -> list[ProcessId]:
    """Stop every process inside the namespaces ``names`` (found by inode), all at once."""
    procs = [ProcessId(pid, st) for pids in pids_in_namespaces(names).values() for pid in pids
             if (st := start_time(pid)) is not None]
    return stop_processes(procs, grace)


def spawn_in_netns(name: str, argv: Sequence[str], log_path: Path, *,
                   env: Mapping[str, str] | None = None, cwd: Path | None = None) -> ProcessId:
    """Start a long-running process inside namespace ``name``; stdout and stderr go to
    ``log_path`` (appended). It runs in a session of its own, so it outlives the CLI.

    The process is forked by a thread that has entered the namespace, so it is born there (no
    ``ip netns exec`` in between). Record it (pid + start time) in the lab's state.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)

    def start() -> int:
        with log_path.open("ab") as out:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    env=dict(env) if env is not None else None, cwd=cwd)
        _reap()
        _children.append(proc)
        return proc.pid

    try:
        pid = run_in_netns(name, start, timeout=10)
    except OSError as exc:
        raise LabError(f"cannot start {argv[0]} in {name}: {exc}") from None
    st = start_time(pid)
    return ProcessId(pid, st if st is not None else -1)


def become(argv: Sequence[str]) -> NoReturn:
    """Replace this process by ``argv`` (interactive use: ``uclab exec`` becomes the argv its
    node's runtime gives, e.g. ``ip netns exec <ns> bash``)."""
    os.execvp(argv[0], list(argv))  # noqa: S606


