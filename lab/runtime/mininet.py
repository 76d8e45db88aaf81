"""The Mininet runtime: a node is a Mininet host (Debian's ``mininet`` package), a segment's
links are Mininet links.

A Mininet host is a shell that ``mnexec -cdn`` started in a network (and mount) namespace of
its own, driven through a pseudo-terminal by the Python process that made it. The runtime
names the host's network namespace ``/run/netns/<lab>-<node>`` (:func:`lab.kernel.bind.
bind_netns`), so every other part of the lab (addresses, routes, NAT, nftables, capture,
daemons, faults, status) reaches it as it reaches a namespace node, and the namespace outlives
the shell: when ``uclab up --runtime mininet`` exits, its Mininet shells end with it (their
terminal closes) and the lab runs on in the named namespaces; ``uclab mininet`` keeps them, and
Mininet's CLI on them, for as long as the lab is up.

Names and records: a host's Mininet name is the node's name; it is recorded (kind ``netns``,
the namespace's name, with the shell's pid, start time and argv) *before* it is made, and
removed like a namespace node: every process inside it (found by the namespace's inode, the
shell included), then the name. The shell's argv ends in ``uclab:<lab>:<node>`` instead of
Mininet's ``mininet:<node>``, so ``mn -c`` (which kills ``pkill -f mininet:``) leaves a running
uclab lab alone (docs/mininet.md lists what ``mn -c`` does and what it would touch).

Daemons are started in the named namespace (setns), not through the shell: they do not share
the shell's private mount namespace and survive it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.base.errors import LabError
from lab.base.names import namespace
from lab.base.state import Record
from lab.kernel import namespaces, processes
from lab.kernel.bind import bind_netns
from lab.kernel.setns import netns_exec_argv
from lab.runtime.base import NodeHandle

if TYPE_CHECKING:
    from lab.base.state import LabState
    from lab.kernel.processes import ProcessId
    from lab.topology import Node

NAME = "mininet"
SHELL_TAG = "uclab:"  #: the last argument of a uclab Mininet shell: uclab:<lab>:<node>


def import_mininet() -> Any:
    """The ``mininet`` package (Debian's), or a :class:`LabError` that says how to get it."""
    try:
        import mininet.link  # noqa: PLC0415
        import mininet.net  # noqa: PLC0415
        import mininet.node  # noqa: PLC0415
        import mininet.topo  # noqa: PLC0415
    except ImportError as exc:
        raise LabError(f"Mininet is not importable ({exc}): `./setup` installs Debian's "
                       "mininet package and makes it importable from .venv "
                       "(docs/mininet.md)") from None
    if shutil.which("mnexec") is None:
        raise LabError("mnexec is not on PATH: `./setup` installs Debian's mininet package")
    return mininet


def host_class() -> Any:
    """:class:`mininet.node.Host` whose shell is tagged ``uclab:<lab>:<node>`` (not
    ``mininet:<node>``, the pattern ``mn -c`` kills)."""
    node = import_mininet().node

    class LabHost(node.Host):  # type: ignore[misc,name-defined]
        """A Mininet host of a uclab lab (``lab=`` names the lab)."""

        def __init__(self, name: str, lab: str = "", **params: Any) -> None:
            self.lab = lab
            super().__init__(name, **params)

        def _popen(self, cmd: list[str], **params: Any) -> Any:
            if self.lab and self.shell is None and cmd[-1:] == [f"mininet:{self.name}"]:
                cmd = [*cmd[:-1], f"{SHELL_TAG}{self.lab}:{self.name}"]
            return super()._popen(cmd, **params)

    return LabHost


class MininetRuntime:
    """Nodes as Mininet hosts, links as Mininet links (see the module docstring). The hosts
    this process made are in :attr:`hosts` (a user's ``Mininet`` object may adopt them)."""

    name = NAME
    record_kinds = frozenset({"netns"})

    def __init__(self) -> None:
        self.hosts: dict[str, Any] = {}  # node -> LabHost, made by this process
        self.links: list[Any] = []  # mininet.link.Link, in the order made

    def handle(self, lab: str, node: str) -> NodeHandle:
        return NodeHandle(lab, node, namespace(lab, node), self.name)

    def preflight(self, lab: str, nodes: Sequence[Node]) -> None:
        import_mininet()
        taken = [namespace(lab, n.name) for n in nodes
                 if namespaces.netns_exists(namespace(lab, n.name))]
        if taken:
            raise LabError(f"namespaces {', '.join(taken)} exist already and are not this "
                           "lab's: choose another name with --name")

    def create(self, state: LabState, node: Node) -> NodeHandle:
        handle = self.handle(state.lab, node.name)
        record = state.add(Record("netns", handle.netns))
        try:
            host = host_class()(node.name, lab=state.lab, inNamespace=True)
        except Exception as exc:  # Mininet raises plain Exceptions
            state.drop(record)
            raise LabError(f"Mininet could not make host {node.name}: {exc}") from None
        try:
            bind_netns(handle.netns, host.pid)
        except LabError:
            host.terminate()
            state.drop(record)  # the name is not ours (or the shell died): never touch it
            raise
        self.hosts[node.name] = host
        start = processes.start_time(host.pid)
        state.confirm(record, pid=host.pid, start=-1 if start is None else start,
                      argv=processes.cmdline(host.pid))
        return handle

    def add_link(self, a: NodeHandle, a_if: str, b: NodeHandle, b_if: str) -> None:
        """A Mininet link (a veth pair made in ``a``'s shell with its peer born in ``b``)
        between interface ``a_if`` of ``a`` and ``b_if`` of ``b``; both hosts must have been
        made by this process."""
        link_mod = import_mininet().link
        try:
            host_a, host_b = self.hosts[a.node], self.hosts[b.node]
        except KeyError as exc:
            raise LabError(f"no Mininet host {exc} in this process: a Mininet link joins "
                           "hosts made by the same process") from None
        try:
            self.links.append(link_mod.Link(host_a, host_b, intfName1=a_if, intfName2=b_if))
        except Exception as exc:  # Mininet raises plain Exceptions
            raise LabError(f"Mininet link {a.node}:{a_if} <-> {b.node}:{b_if}: {exc}") from None

    def spawn(self, handle: NodeHandle, argv: Sequence[str], log_path: Path, *,
              env: Mapping[str, str] | None = None) -> ProcessId:
        return processes.spawn_in_netns(handle.netns, argv, log_path, env=env)

    def exec_argv(self, handle: NodeHandle, argv: Sequence[str], *,
                  interactive: bool = False) -> list[str]:
        return netns_exec_argv(handle.netns, argv)

    def stop(self, handle: NodeHandle) -> None:
        processes.kill_netns_processes([handle.netns])

    def remove(self, state: LabState, records: Sequence[Record]) -> list[str]:
        names = [r.name for r in records if r.kind == "netns"]
        processes.kill_netns_processes(names)
        for name in names:
            self.hosts.pop(name.removeprefix(f"{state.lab}-"), None)
        return [name for name in names if namespaces.delete_netns(name)]
