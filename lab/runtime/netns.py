"""The namespace runtime: a node is a named network namespace (``ip netns``), nothing more.

``/run/netns/<lab>-<node>`` is made exactly as ``ip netns add`` makes it, so ``ip netns exec
uclab-cms bash`` works for trainees. A process runs in a node when a thread that entered the
namespace forks it. Removing a node kills every process inside its namespace (found by the
namespace's inode, never by a name pattern) and unmounts it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lab.base.errors import LabError
from lab.base.names import namespace
from lab.base.state import DAEMON_RECORD, LabState, Record
from lab.kernel import namespaces, processes
from lab.runtime.base import NodeHandle, Removal

if TYPE_CHECKING:
    from lab.topology import Node

class NetnsRuntime:
    """:class:`lab.runtime.base.NodeRuntime` for bare network namespaces."""

    name = "netns"
    record_kinds = frozenset({"netns"})
    shares_host_filesystem = True

    def handle(self, lab: str, node: str) -> NodeHandle:
        return NodeHandle(lab, node, namespace(lab, node), self.name)

    def preflight(self, lab: str, nodes: Sequence[Node]) -> None:
        taken = [ns for n in nodes if namespaces.netns_exists(ns := namespace(lab, n.name))]
        if taken:
            raise LabError(f"namespaces {', '.join(taken)} exist already and are not this "
                           "lab's: choose another name with --name, or remove them if they are "
                           "leftovers")

    def create(self, state: LabState, node: Node) -> NodeHandle:
        """Record, then create the namespace; the calling thread is inside it on return."""
        handle = self.handle(state.lab, node.name)
        record = state.add(Record("netns", handle.netns))
        try:
            namespaces.create_netns(handle.netns)
        except LabError:
            state.drop(record)  # not ours: never touch it
            raise
        state.confirm(record)
        return handle

    def spawn(self, handle: NodeHandle, argv: Sequence[str], log_path: Path, *,
              env: Mapping[str, str] | None = None) -> processes.ProcessId:
        return processes.spawn_in_netns(handle.netns, argv, log_path, env=env)

    def exec_argv(self, handle: NodeHandle, argv: Sequence[str], *,
                  interactive: bool = False) -> list[str]:
        return ["ip", "netns", "exec", handle.netns, *argv]

    def stop(self, state: LabState, handle: NodeHandle) -> list[str]:
        """SIGKILL the node's recorded daemon (the namespace and its links stay, as a host
        whose software crashed keeps its cables)."""
        done = []
        for r in state.records:
            if (r.kind == "process" and r.name == DAEMON_RECORD + handle.node
                    and r.pid is not None and r.start is not None
                    and processes.alive(processes.ProcessId(r.pid, r.start))):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(r.pid, signal.SIGKILL)
                done.append(f"killed the {handle.node} daemon (pid {r.pid}, SIGKILL)")
        return done

    def remove(self, state: LabState, records: Sequence[Record]) -> Removal:
        names = [r.name for r in records if r.kind == "netns"]
        stopped = [p.pid for p in processes.kill_netns_processes(names)]
        return Removal([ns for ns in names if namespaces.delete_netns(ns)], stopped)
