"""The run folder of a lab and its state file: what the lab created, written *before* creating it.

    /run/uclab/<lab>/
        state.json     the records (namespaces, processes, paths), phase, topology, policies
        lock           flock held by whoever builds or removes the lab right now
        logs/<node>.log   config/<node>.json   control/<node>.sock   pki/   captures/

Every object is recorded before it is made, so a crash (even ``kill -9``) at any point leaves
a record of everything that may exist; ``uclab down`` / ``uclab clean`` undo exactly the
records, newest first, and nothing else. ``state.json`` is replaced atomically (write + rename).

Record kinds: ``netns`` (name = namespace), ``process`` (pid + start time; ``ns`` where it runs),
``path`` (a file or folder inside the run folder), ``container`` (name = a container of the
Docker runtime, :mod:`lab.runtime.docker`). The undo of each kind is in
:mod:`lab.lifecycle.build`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lab.base.errors import LabError
from lab.base.names import LAB_NAME, RUN_ROOT, check_lab_name, run_dir

SUBDIRS = ("logs", "config", "control", "pki", "captures")
_SAVING = threading.Lock()  # state.json is written by one thread at a time
#: The name of a node daemon's process record is this prefix and the node's name.
DAEMON_RECORD = "daemon:"
Phase = Literal["building", "up", "removing", "failed"]
RecordKind = str  # "process", "path", or a kind of the lab's runtime (lab.runtime)


@dataclass(frozen=True)
class RunDir:
    """Paths of one lab's run folder."""

    lab: str
    root: Path = RUN_ROOT

    @property
    def path(self) -> Path:
        return run_dir(self.lab, self.root)

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.path / "lock"

    def log(self, node: str) -> Path:
        return self.path / "logs" / f"{node}.log"

    def config(self, node: str) -> Path:
        return self.path / "config" / f"{node}.json"

    def control(self, node: str) -> Path:
        return self.path / "control" / f"{node}.sock"

    @property
    def pki(self) -> Path:
        return self.path / "pki"

    @property
    def captures(self) -> Path:
        return self.path / "captures"


@dataclass
class Record:
    """One object the lab made (or is about to make)."""

    kind: RecordKind
    name: str
    ns: str | None = None
    pid: int | None = None
    start: int | None = None
    argv: list[str] | None = None
    done: bool = False  # False: recorded, creation not confirmed (it may or may not exist)


@dataclass
class LabState:
    """``state.json`` of one lab. Mutating methods save at once."""

    run: RunDir
    topology: str
    nodes: dict[str, str] = field(default_factory=dict)  # node -> role, in build order
    policies: dict[str, str] = field(default_factory=dict)
    runtime: str = "netns"  # the node runtime that made the nodes (lab.runtime)
    phase: Phase = "building"
    owner: int = field(default_factory=os.getpid)
    created: float = field(default_factory=time.time)
    for_run: list[int] | None = None  # (pid, start time) of the `uclab run` that removes it
    daemons: list[str] = field(default_factory=list)  # the nodes whose daemons it runs
    records: list[Record] = field(default_factory=list)
    _lock_fd: int | None = field(default=None, repr=False, compare=False)

    @property
    def lab(self) -> str:
        return self.run.lab

    # -- life cycle -------------------------------------------------------------------------------
    @classmethod
    def create(cls, lab: str, topology: Path, nodes: dict[str, str],
               policies: dict[str, Path], *, runtime: str = "netns",
               root: Path = RUN_ROOT, for_run: list[int] | None = None) -> LabState:
        """Make the run folder (it must not exist: one lab per name) and the first state; the
        returned state holds the lab's lock (:meth:`release` it when done)."""
        run = RunDir(check_lab_name(lab), root)
        root.mkdir(mode=0o755, parents=True, exist_ok=True)
        try:
            run.path.mkdir(mode=0o755)
        except FileExistsError:
            raise LabError(f"lab {lab} exists already ({run.path}): remove it with "
                           f"`uclab down --name {lab}` (or `uclab clean`) first") from None
        for sub in SUBDIRS:
            (run.path / sub).mkdir()
        state = cls(run, str(topology), dict(nodes), {k: str(v) for k, v in policies.items()},
                    runtime, for_run=for_run)
        state.acquire()
        state.save()
        return state

    @classmethod
    def load(cls, lab: str, root: Path = RUN_ROOT) -> LabState:
        run = RunDir(check_lab_name(lab), root)
        try:
            raw = json.loads(run.state_file.read_text())
        except FileNotFoundError:
            raise LabError(f"no lab named {lab} (no {run.state_file})") from None
        except (OSError, ValueError) as exc:
            raise LabError(f"cannot read {run.state_file}: {exc}") from None
        known = {f.name for f in dataclasses.fields(Record)}
        records = [Record(**{k: v for k, v in r.items() if k in known})
                   for r in raw.pop("records", [])]
        fields = {f.name for f in dataclasses.fields(cls)} - {"run", "records", "_lock_fd"}
        return cls(run=run, records=records, **{k: v for k, v in raw.items() if k in fields})

    def save(self) -> None:
        """Write ``state.json`` atomically. Threads of one process may save at once (a build
        step's worker thread goes on recording while the main thread rolls back after
        Ctrl-C): one at a time, each through a temporary file of its own."""
        with _SAVING:
            data: dict[str, Any] = {"lab": self.lab}
            data.update({f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                         if f.name not in ("run", "records", "_lock_fd")})
            data["records"] = [dataclasses.asdict(r) for r in self.records]
            tmp = self.run.state_file.with_name(
                f".state.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(data, indent=1) + "\n")
            tmp.replace(self.run.state_file)

    def remove_run_dir(self) -> None:
        """The last step of ``down``: the run folder and everything in it."""
        shutil.rmtree(self.run.path, ignore_errors=True)

    # -- records ----------------------------------------------------------------------------------
    def add(self, record: Record) -> Record:
        """Record an object *before* creating it."""
        self.records.append(record)
        self.save()
        return record

    def confirm(self, record: Record, **changes: Any) -> None:
        """The object exists (with e.g. its pid): mark the record done."""
        for key, value in changes.items():
            setattr(record, key, value)
        record.done = True
        self.save()

    def drop(self, record: Record) -> None:
        """The object was never made, or is gone: forget it."""
        self.records = [r for r in self.records if r is not record]
        self.save()

    def set_phase(self, phase: Phase) -> None:
        self.phase = phase
        self.save()

    # -- exclusion --------------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the lab's lock (``LabError`` if another uclab holds it). A killed holder releases
        it automatically, which is how a crashed ``up`` is recognised."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.run.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LabError(f"lab {self.lab} is busy: another uclab is building or removing "
                           "it right now") from None
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def busy(self) -> bool:
        """Is another uclab holding the lock right now?"""
        if self._lock_fd is not None:
            return False
        try:
            with self.locked():
                return False
        except LabError:
            return True
        except FileNotFoundError:
            return False


def list_labs(root: Path = RUN_ROOT) -> list[str]:
    """Names of the labs that have a run folder (with or without a readable state)."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and LAB_NAME.fullmatch(p.name))
