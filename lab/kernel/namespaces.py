"""Named network namespaces: creating and deleting them, their identity, sysctls inside them,
threads that run in a fresh or anonymous namespace, and the br_netfilter module.

Named namespaces are made exactly as ``ip netns add`` makes them (a bind mount of the
namespace on ``/run/netns/<name>``), so ``ip netns exec uclab-cms ...`` works for trainees. They
are created by the *calling thread* (``unshare(CLONE_NEWNET)``): call :func:`create_netns` in a
thread of its own (the build runs in one, see :func:`run_in_thread`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from lab.base.errors import LabError
from lab.kernel.confinement import check_confinement
from lab.kernel.setns import _LIBC, CLONE_NEWNET, NETNS_DIR, netns_path

log = logging.getLogger(__name__)
T = TypeVar("T")

MS_REC = 0x4000
MS_BIND = 0x1000
MS_SHARED = 1 << 20
MNT_DETACH = 2

_shared = threading.Event()  # /run/netns is known to be a shared mount point
_shared_lock = threading.Lock()


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


def _claim(name: str) -> Path:
    """The empty file ``/run/netns/<name>`` a namespace gets bind-mounted on, made here;
    :class:`LabError` if the name is taken (it is never taken over)."""
    _make_run_dir_shared()
    path = netns_path(name)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    except FileExistsError:
        raise LabError(f"network namespace {name} already exists") from None
    return path


def create_netns(name: str) -> None:
    """Create namespace ``name`` and move the *calling thread* into it.

    Fails with :class:`LabError` if the name exists (it is never taken over).
    """
    check_confinement()
    path = _claim(name)
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


def bind_netns(name: str, pid: int) -> None:
    """Name the network namespace of process ``pid`` (one another program made: a Mininet
    host's shell, a container's first process) ``/run/netns/<name>``, as ``ip netns attach
    NAME PID`` does: a bind mount of ``/proc/<pid>/ns/net``, which keeps the namespace alive
    after that process has ended; :func:`delete_netns` removes it. :class:`LabError` if the
    name is taken (it is never taken over) or the process is gone."""
    path = _claim(name)
    try:
        _check(_LIBC.mount(f"/proc/{pid}/ns/net".encode(), str(path).encode(), b"none",
                           MS_BIND, None), f"bind {path}")
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise LabError(f"cannot name the namespace of process {pid} {name}: {exc}") from None


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

    check_confinement()

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
            check_confinement()  # a read-only /proc/sys in a container: say which option
            raise LabError(f"cannot set {key}={value}: {exc.strerror}") from None


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
