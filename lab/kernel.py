"""The one module that touches the kernel: namespaces, links, nftables, processes in namespaces.

Everything else in the lab asks this module. Commands are argv lists and their exit codes are
checked; nothing here ever acts on an object the lab did not create (STYLE.md, habit 7).

Started by the lead with the primitives every stack's tests need; the lab issue grows it in
sibling modules of the same kernel layer: ``kernel_ns`` (namespaces, sysctls, processes),
``kernel_links`` (pyroute2) and ``kernel_nft`` (nft in namespaces). The entry points others
need most are re-exported here as thin functions (below :func:`netns_exec_argv`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from lab.errors import LabError

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000

T = TypeVar("T")

_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _setns(fd: int, nstype: int) -> None:
    if _LIBC.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def netns_path(name: str) -> Path:
    """The bind-mount of a named namespace, as ``ip netns`` makes it."""
    return NETNS_DIR / name


def enter_netns(name: str) -> None:
    """Move the *calling thread* into the named network namespace (setns(2)).

    Only the calling thread moves; sockets it creates afterwards live in that namespace. Use it in
    a thread of its own (see :func:`run_in_netns`), never in the main thread of the CLI.
    """
    path = netns_path(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise LabError(f"network namespace {name!r} does not exist ({path})") from None
    try:
        _setns(fd, CLONE_NEWNET)
    finally:
        os.close(fd)


def run_in_netns(name: str, fn: Callable[[], T], *, timeout: float | None = None) -> T:
    """Run ``fn()`` in a fresh thread that has entered namespace ``name``; return its result.

    Exceptions raised by ``fn`` are re-raised in the caller. Typical use in tests:
    ``run_in_netns("t-cli", lambda: asyncio.run(client()))``.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            enter_netns(name)
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller
            error.append(exc)

    thread = threading.Thread(target=target, name=f"netns:{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise LabError(f"code running in namespace {name!r} did not finish within {timeout} s")
    if error:
        raise error[0]
    return result[0]


def netns_exec_argv(name: str, argv: Sequence[str]) -> list[str]:
    """The argv that runs ``argv`` inside namespace ``name``."""
    return ["ip", "netns", "exec", name, *argv]


def spawn_in_netns(name: str, argv: Sequence[str], log_path: Path,
                   env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """Start a long-running process inside namespace ``name`` (own session, output appended to
    ``log_path``); returns ``(pid, start time)``, the identity the lab records. Inside ``uclab
    up`` use :func:`lab.build.start_process`, which records it in the lab's state first."""
    from lab import kernel_ns  # noqa: PLC0415 (kernel_ns imports this module)

    proc = kernel_ns.spawn_in_netns(name, argv, log_path, env=env)
    return proc.pid, proc.start


# --- capture primitives (added for lab/capture; owner of this section: capture/ladder) -------


def netns_links(name: str) -> list[str]:
    """Names of the network interfaces of namespace ``name``, ``lo`` first if present."""
    proc = subprocess.run(["ip", "-n", name, "-j", "link", "show"], capture_output=True,
                          text=True, check=False, timeout=10)
    if proc.returncode != 0:
        raise LabError(f"cannot list the interfaces of namespace {name!r}: {proc.stderr.strip()}")
    links = [str(link["ifname"]) for link in json.loads(proc.stdout or "[]")]
    return sorted(links, key=lambda n: (n != "lo", links.index(n)))


def start_tcpdump(name: str, iface: str, path: Path) -> subprocess.Popen[bytes]:
    """Start ``tcpdump`` on ``iface`` inside namespace ``name``, writing every whole packet to
    ``path`` (pcap, nanosecond timestamps, flushed packet by packet).

    tcpdump keeps root (``-Z root``) so that it can write into the lab's run folder; its stderr
    is a pipe on which it announces ``listening on`` once the capture is active, and its
    statistics when stopped by SIGINT.
    """
    argv = ["tcpdump", "-Z", "root", "-i", iface, "-w", str(path), "-U", "-s", "0", "-n",
            "--immediate-mode", "--time-stamp-precision=nano"]
    return subprocess.Popen(netns_exec_argv(name, argv), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
