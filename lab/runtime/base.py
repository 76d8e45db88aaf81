"""The node-runtime seam: how the lab makes a node, reaches it, runs a process in it and
removes it again.

Everything that builds or uses a lab (links, addresses, NAT, firewalls, capture, daemons,
faults, status, teardown) reaches a node through a :class:`NodeHandle`: the name of the node's
network namespace as ``ip netns`` knows it (``/run/netns/<netns>``, so ``ip -n``, pyroute2,
``setns(2)`` and ``tcpdump`` work the same on every runtime) and the runtime that made it.
A runtime adds only what is its own: making the node (recorded in the lab's state *before*
it is made), running a long-lived process inside it, an argv for an interactive command in
it, stopping it (a fault), and removing exactly what its records name, also after a crash.

The namespace runtime (:mod:`lab.runtime.netns`) is the first implementation: a node is a
named network namespace. Container runtimes make the namespace reachable under
``/run/netns`` (a bind mount of ``/proc/<pid>/ns/net``, as containerlab does), so the rest
of the lab needs no change to use them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from lab.base.state import LabState, Record
    from lab.kernel.processes import ProcessId
    from lab.topology import Node


@dataclass(frozen=True)
class NodeHandle:
    """A node of a running lab, as every layer above the runtime reaches it."""

    lab: str
    node: str
    netns: str  #: the namespace's name under /run/netns
    runtime: str  #: the name of the runtime that made the node

    @property
    def netns_path(self) -> Path:
        return Path("/run/netns") / self.netns


@dataclass
class Removal:
    """What :meth:`NodeRuntime.remove` removed: nodes (by the name its records give) and the
    pids of the processes it stopped inside them."""

    nodes: list[str] = field(default_factory=list)
    processes: list[int] = field(default_factory=list)


class NodeRuntime(Protocol):
    """What a node runtime provides (see the module docstring)."""

    #: The runtime's name, as ``uclab up --runtime NAME`` and ``state.json`` spell it.
    name: str
    #: The record kinds this runtime writes and :meth:`remove` understands.
    record_kinds: frozenset[str]
    #: True when a node's processes see the host's file system (a bare network namespace, a
    #: Mininet host): the daemons can then be forked from one interpreter that enters each
    #: node's namespace (:mod:`nodes.forkserver`); False (a container): each daemon is started
    #: inside its node with :meth:`spawn`.
    shares_host_filesystem: bool

    def handle(self, lab: str, node: str) -> NodeHandle:
        """The handle of ``node`` of ``lab`` (whether or not it exists yet)."""
        ...

    def preflight(self, lab: str, nodes: Sequence[Node]) -> None:
        """Refuse (``LabError``) before anything is made: names taken, engine missing, ..."""
        ...

    def create(self, state: LabState, node: Node) -> NodeHandle:
        """Make ``node``: record it in ``state`` first, then create it, then confirm the
        record. On return its namespace exists as ``/run/netns/<handle.netns>``; the calling
        thread may then enter it (:func:`lab.kernel.setns.enter_netns`) to configure it."""
        ...

    def spawn(self, handle: NodeHandle, argv: Sequence[str], log_path: Path, *,
              env: Mapping[str, str] | None = None) -> ProcessId:
        """Start a long-running process inside the node; its output is appended to
        ``log_path``. The caller records the returned identity."""
        ...

    def exec_argv(self, handle: NodeHandle, argv: Sequence[str], *,
                  interactive: bool = False) -> list[str]:
        """The argv that runs ``argv`` inside the node from the root namespace."""
        ...

    def stop(self, state: LabState, handle: NodeHandle) -> list[str]:
        """Stop the node's daemon at once, as a crash of that host would (a fault); returns
        what was stopped, in words."""
        ...

    def remove(self, state: LabState, records: Sequence[Record]) -> Removal:
        """Remove what ``records`` (of :attr:`record_kinds`, newest first) name, with every
        process inside; idempotent; never touches an object the records do not name."""
        ...


@runtime_checkable
class LinkingRuntime(NodeRuntime, Protocol):
    """A runtime that makes the lab's veth pairs itself (Mininet's links) instead of the
    network step; the step still makes the bridges and configures everything."""

    def add_link(self, a: NodeHandle, a_if: str, b: NodeHandle, b_if: str) -> None:
        """A veth pair: interface ``a_if`` in node ``a``, its peer ``b_if`` in node ``b``."""
        ...
