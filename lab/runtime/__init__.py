"""Node runtimes: how a node of the lab is made, reached, given processes and removed.

    runtime = runtimes.get("netns")          # or state.runtime of a lab that exists
    handle = runtime.handle("uclab", "cms")  # NodeHandle(netns="uclab-cms", ...)

The interface is :class:`lab.runtime.base.NodeRuntime`; :data:`RUNTIMES` names the
implementations, imported only when asked for (a container runtime's SDK is not imported by
``uclab up`` on namespaces).
"""

from __future__ import annotations

import importlib

from lab.base.errors import InputError
from lab.runtime.base import NodeHandle, NodeRuntime, Removal

#: runtime name -> "module:class" implementing :class:`NodeRuntime`
RUNTIMES: dict[str, str] = {
    "netns": "lab.runtime.netns:NetnsRuntime",
    "docker": "lab.runtime.docker:DockerRuntime",
    "mininet": "lab.runtime.mininet:MininetRuntime",
}
DEFAULT_RUNTIME = "netns"


def get(name: str = DEFAULT_RUNTIME) -> NodeRuntime:
    """The runtime called ``name``; :class:`InputError` naming the choices otherwise."""
    target = RUNTIMES.get(name)
    if target is None:
        raise InputError(f"unknown node runtime {name!r}", "--runtime",
                         fix="use one of: " + ", ".join(sorted(RUNTIMES)))
    module, _, cls = target.partition(":")
    runtime: NodeRuntime = getattr(importlib.import_module(module), cls)()
    return runtime


__all__ = ["DEFAULT_RUNTIME", "RUNTIMES", "NodeHandle", "NodeRuntime", "Removal", "get"]
