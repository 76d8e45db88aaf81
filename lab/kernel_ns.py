"""Kernel primitives, part 2: creating and deleting named network namespaces, sysctls inside
them, and the processes that live in them (spawn, identify, find, stop, exec).

Part of the kernel layer (``lab/kernel*.py``): the only modules that touch namespaces, links,
nftables and processes in namespaces.

Named namespaces are made exactly as ``ip netns add`` makes them (a bind mount of the
namespace on ``/run/netns/<name>``), so ``ip netns exec uclab-cms ...`` works for trainees. They
are created by the *calling thread* (``unshare(CLONE_NEWNET)``): call :func:`create_netns` in a
thread of its own (the build runs in one, see :func:`run_in_thread`).

A process is identified by its pid *and* its start time (``/proc/<pid>/stat`` field 22), so a
recycled pid is never mistaken for a process of the lab. The processes of a namespace are found
by the namespace's inode (``/proc/<pid>/ns/net``): precise, never a name pattern.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypeVar

from lab.errors import LabError
from lab.kernel import _LIBC, CLONE_NEWNET, NETNS_DIR, netns_path, run_in_netns

log = logging.getLogger(__name__)
T = TypeVar("T")

MS_REC = 0x4000
MS_BIND = 0x1000
MS_SHARED = 1 << 20
MNT_DETACH = 2

_shared = threading.Event()  # /run/netns is known to be a shared mount point
_shared_lock = threading.Lock()
_children: list[subprocess.Popen[bytes]] = []  # spawned here; reaped when they end


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _make_run_dir_shared() -> None:
    """``/run/netns`` as a shared mount point, as iproute2 does it (once per process)."""
    with _shared_lock:
        if _shared.is_set():
            return
        NETNS_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        d = str(NETNS_DIR).encode()
        if _LIBC.mount(b"none", d, b"none", MS_SHARED | MS_REC, None) != 0:
            if ctypes.get_errno() != errno.EINVAL:
                _check(-1, "mount --make-shared /run/netns")
            _check(_LIBC.mount(d, d, b"none", MS_BIND | MS_REC, None), "bind /run/netns")
            _check(_LIBC.mount(b"none", d, b"none", MS_SHARED | MS_REC, None),
                   "mount --make-shared /run/netns")
        _shared.set()


def netns_exists(name: str) -> bool:
    return netns_path(name).exists()


def create_netns(name: str) -> None:
    """Create namespace ``name`` and move the *calling thread* into it.

    Fails with :class:`LabError` if the name exists (it is never taken over).
    """
    _make_run_dir_shared()
    path = netns_path(name)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    except FileExistsError:
        raise LabError(f"network namespace {name} already exists") from None
    try:
        _check(_LIBC.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        _check(_LIBC.mount(b"/proc/thread-self/ns/net", str(path).encode(), b"none", MS_BIND,
                           None), f"bind {path}")
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise LabError(f"cannot create network namespace {name}: {exc}") from None


def delete_netns(name: str) -> bool:
    """Unmount and remove ``/run/netns/<name>``; True if it existed. Kill its processes first
    (:func:`kill_netns_processes`): the namespace lives on while anything is inside it."""
    path = netns_path(name)
    if not path.exists():
        return False
    _LIBC.umount2(str(path).encode(), MNT_DETACH)  # fails harmlessly if never mounted
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return True


def netns_id(name: str) -> tuple[int, int] | None:
    """(device, inode) of the namespace, as ``stat`` sees ``/proc/<pid>/ns/net``."""
    try:
        st = netns_path(name).stat()
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def run_in_thread(fn: Callable[[], T], *, name: str = "kernel", timeout: float = 60.0) -> T:
    """Run ``fn`` in a fresh thread (which may change namespaces freely) and return its result.

    The caller's own thread never changes namespace; exceptions are re-raised here.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller
            error.append(exc)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise LabError(f"{name}: did not finish within {timeout} s")
    if error:
        raise error[0]
    return result[0]


def in_anonymous_netns(fn: Callable[[], T], *, timeout: float = 60.0) -> T:
    """Run ``fn`` in a thread inside a new, unnamed, empty namespace that disappears with it
    (and with the processes it started). Used to check nftables files without touching any
    real namespace."""

    def target() -> T:
        _check(_LIBC.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        return fn()

    return run_in_thread(target, name="anonymous-netns", timeout=timeout)


def write_sysctls(values: Mapping[str, str | int]) -> None:
    """Write ``net.*`` sysctls of the *calling thread's* namespace (``/proc/sys`` per thread)."""
    for key, value in values.items():
        path = Path("/proc/sys") / key.replace(".", "/")
        try:
            path.write_text(f"{value}\n")
        except OSError as exc:
            raise LabError(f"cannot set {key}={value}: {exc.strerror}") from None


# --- processes --------------------------------------------------------------------------------


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


def exec_in_netns(name: str, argv: Sequence[str]) -> NoReturn:
    """Become ``ip netns exec <name> argv...`` (interactive use: ``uclab exec``)."""
    if not netns_exists(name):
        raise LabError(f"network namespace {name} does not exist")
    os.execvp("ip", ["ip", "netns", "exec", name, *argv])  # noqa: S606


def ensure_br_netfilter() -> None:
    """Bridged IPv4 must pass the inet hooks (stateful bridging firewalls): br_netfilter must be
    loaded; its sysctls are then per namespace (set in the firewall's namespace only)."""
    bridge = Path("/proc/sys/net/bridge")
    if bridge.exists():
        return
    proc = subprocess.run(["modprobe", "br_netfilter"], capture_output=True, text=True,
                          check=False, timeout=20)
    if not bridge.exists():
        raise LabError("the kernel module br_netfilter is not available "
                       f"({proc.stderr.strip() or 'modprobe br_netfilter failed'}): the "
                       "firewalls need it to track connections across their bridges")
