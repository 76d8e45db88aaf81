"""Entering network namespaces: the setns(2) primitives every other kernel module builds on.

Only the calling *thread* moves into a namespace; sockets it makes afterwards live there. Code
that must run inside a node runs in a thread of its own (:func:`run_in_netns`), never in the
main thread of the CLI. Commands are argv lists and their exit codes are checked; nothing here
acts on an object the lab did not create.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from lab.base.errors import LabError

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
