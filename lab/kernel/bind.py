"""Kernel primitives, part 4: naming a namespace that another program made.

Part of the kernel layer (``lab/kernel/``). Mininet (``mnexec -n``) and container engines
make a process in a network namespace of its own; the lab reaches every node by a name under
``/run/netns``. :func:`bind_netns` gives the namespace of process ``pid`` that name exactly as
``ip netns attach NAME PID`` does: a bind mount of ``/proc/<pid>/ns/net`` on
``/run/netns/<name>``. The mount keeps the namespace alive after that process has ended, and
:func:`lab.kernel.namespaces.delete_netns` removes it like any other named namespace.
"""

from __future__ import annotations

import contextlib
import os

from lab.base.errors import LabError
from lab.kernel.namespaces import MS_BIND, _check, _make_run_dir_shared
from lab.kernel.setns import _LIBC, netns_path


def bind_netns(name: str, pid: int) -> None:
    """Name the network namespace of process ``pid`` ``/run/netns/<name>``. Fails with
    :class:`LabError` if the name is taken (it is never taken over) or the process is gone."""
    _make_run_dir_shared()
    path = netns_path(name)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    except FileExistsError:
        raise LabError(f"network namespace {name} already exists") from None
    try:
        _check(_LIBC.mount(f"/proc/{pid}/ns/net".encode(), str(path).encode(), b"none",
                           MS_BIND, None), f"bind {path}")
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise LabError(f"cannot name the namespace of process {pid} {name}: {exc}") from None

