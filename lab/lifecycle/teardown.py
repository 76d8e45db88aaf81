"""Taking labs down: undo exactly what the state records name, newest first.

Cheap to import (no pyroute2, no YAML): ``uclab down`` must be quick.

    teardown.down("uclab")        # the whole lab; LabError if there is none, or it is busy
    teardown.clean()              # labs a crash left behind, found only by their state records
    teardown.undo(state)          # the records of one state (used by up's rollback)
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab import runtime as runtimes
from lab.base.errors import LabError
from lab.base.names import DEFAULT_LAB, RUN_ROOT
from lab.base.state import LabState, RunDir, list_labs
from lab.kernel import processes

log = logging.getLogger(__name__)


@dataclass
class Removed:
    """What :func:`undo` removed, for the CLI to report."""

    namespaces: list[str] = field(default_factory=list)
    processes: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def undo(state: LabState) -> Removed:
    """Remove everything ``state`` records: recorded processes, then the nodes (their
    runtime removes them with whatever runs inside), then recorded paths. Idempotent."""
    removed = Removed()
    procs = [processes.ProcessId(r.pid, r.start) for r in reversed(state.records)
             if r.kind == "process" and r.pid is not None and r.start is not None]
    removed.processes += [p.pid for p in processes.stop_processes(procs)]
    runtime = runtimes.get(state.runtime)
    nodes = [r for r in reversed(state.records) if r.kind in runtime.record_kinds]
    removal = runtime.remove(state, nodes)
    removed.processes += removal.processes
    removed.namespaces += removal.nodes
    for r in reversed(state.records):
        if r.kind == "path":
            removed.paths += _remove_path(state.run, r.name)
    gone = {"process", "path", *runtime.record_kinds}
    state.records = [r for r in state.records if r.kind not in gone]
    state.save()
    return removed


def _remove_path(run: RunDir, name: str) -> list[str]:
    path = (run.path / name).resolve()
    if run.path.resolve() not in path.parents:
        log.warning("refusing to remove %s: outside the run folder %s", path, run.path)
        return []
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
    else:
        return []
    return [str(path)]


def down(lab: str = DEFAULT_LAB, root: Path = RUN_ROOT) -> Removed:
    """Remove lab ``lab`` entirely (``LabError`` if there is no such lab, or it is busy)."""
    state = LabState.load(lab, root)
    with state.locked():
        state.set_phase("removing")
        removed = undo(state)
        state.remove_run_dir()
    return removed


def clean(*, everything: bool = False, root: Path = RUN_ROOT, only: str | None = None,
          dry_run: bool = False) -> dict[str, Removed | str]:
    """Remove the labs a crash left behind (phase not ``up``, nobody holding the lock), and
    the labs built for a ``uclab run`` that died before removing them; with ``everything``
    also the healthy ones. Found only through the run folders' state records; ``only`` one
    lab; ``dry_run`` removes nothing. Returns, per lab, what was (or would be) removed or why
    it was left."""
    report: dict[str, Removed | str] = {}
    for lab in [x for x in list_labs(root) if only is None or x == only]:
        run = RunDir(lab, root)
        if not run.state_file.exists():
            report[lab] = "would remove an empty run folder" if dry_run else \
                _clean_stateless(run)
            continue
        try:
            state = LabState.load(lab, root)
        except LabError as exc:
            report[lab] = f"left: {exc}"
            continue
        orphan = orphaned(state)
        if state.phase == "up" and not everything and not orphan:
            report[lab] = "left: it is up (uclab down --name " + lab + ")"
        elif state.busy():
            report[lab] = "left: busy (another uclab is working on it)"
        elif dry_run:
            report[lab] = f"would remove it ({orphan or state.phase}): " \
                f"{len(_nodes(state))} nodes"
        else:
            try:
                report[lab] = down(lab, root)
            except LabError as exc:
                report[lab] = f"left: {exc}"
    return report


def orphaned(state: LabState) -> str:
    """Why a lab has no owner any more (built for a ``uclab run`` that is gone), or ''. A
    process is its pid and start time, so a reused pid is not taken for it."""
    if state.for_run is None:
        return ""
    pid, start = state.for_run
    if processes.alive(processes.ProcessId(pid, start)):
        return ""
    return f"built for uclab run pid {pid}, which is gone"


def _nodes(state: LabState) -> list[str]:
    kinds = runtimes.get(state.runtime).record_kinds
    return [r.name for r in state.records if r.kind in kinds]


def _clean_stateless(run: RunDir) -> str:
    """A run folder without state.json: killed before its first record, so nothing else was
    made. Removed unless it is brand new (an ``up`` may be starting right now)."""
    with contextlib.suppress(FileNotFoundError):
        if time.time() - run.path.stat().st_mtime < 5:
            return "left: being created"
        shutil.rmtree(run.path, ignore_errors=True)
    return "removed an empty run folder"
