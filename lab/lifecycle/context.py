"""What every build step gets: the lab being built and the way to record what it makes.

A step is a function ``(BuildContext) -> None`` that records each object in ``ctx.state``
*before* making it (``ctx.state.add(Record(...))``, then ``ctx.state.confirm(record)``), so
that a failure or a ``kill -9`` at any point leaves a record of everything that may exist.
Nodes are reached through ``ctx.runtime`` (:mod:`lab.runtime`): their namespaces by name
(``ctx.ns(node)``), their processes with :func:`start_process`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lab.base.state import LabState, Record, RunDir
from lab.lifecycle.policies import Policy
from lab.runtime import NodeHandle, NodeRuntime
from lab.topology import Topology


@dataclass
class BuildContext:
    """The lab being built: its name, topology, state (records), runtime and policies."""

    lab: str
    topology: Topology
    state: LabState
    runtime: NodeRuntime
    policies: tuple[Policy, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    #: told of a long wait (a line of text), e.g. daemons slow to be ready; None: silence
    progress: Callable[[str], None] | None = None

    @property
    def run(self) -> RunDir:
        return self.state.run

    def node(self, node: str) -> NodeHandle:
        return self.runtime.handle(self.lab, node)

    def ns(self, node: str) -> str:
        """The name of ``node``'s network namespace under /run/netns."""
        return self.node(node).netns


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[BuildContext], None]


def start_process(ctx: BuildContext, node: str, label: str, argv: Sequence[str], *,
                  log_path: Path | None = None, env: Mapping[str, str] | None = None) -> Record:
    """Start a long-running process in ``node``, recorded before it starts. Its output goes
    to ``logs/<node>.log`` unless ``log_path`` says otherwise."""
    handle = ctx.node(node)
    record = ctx.state.add(Record("process", label, ns=handle.netns, argv=list(argv)))
    proc = ctx.runtime.spawn(handle, argv, log_path or ctx.run.log(node), env=env)
    ctx.state.confirm(record, pid=proc.pid, start=proc.start)
    return record
