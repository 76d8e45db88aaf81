"""The Mininet runtime: a node is a Mininet host (Debian's ``mininet`` package), a segment's
links are Mininet links.

A Mininet host is a shell that ``mnexec -cdn`` started in a network (and mount) namespace of
its own, driven through a pseudo-terminal by the Python process that made it. The runtime
names the host's network namespace ``/run/netns/<lab>-<node>``
(:func:`lab.kernel.namespaces.bind_netns`), so every other part of the lab (addresses,
routes, NAT, nftables, capture, daemons, faults, status) reaches it as it reaches a
namespace node, and the namespace outlives the shell: when ``uclab up --runtime mininet``
exits, its Mininet shells end with it (their terminal closes) and the lab runs on in the
named namespaces; ``uclab mininet`` keeps them, and Mininet's CLI on them, for as long as
the lab is up.

Names and records: a host's Mininet name is the node's name. A host this runtime makes is
recorded (kind ``mininet-host``: the namespace's name, then the shell's pid, start time and
argv) *before* it is made, and removed like a namespace node: its shell (by the record, with
SIGKILL, as an interactive bash ignores SIGTERM), every process inside it (found by the
namespace's inode), then the name. A host of a user's ``Mininet``
that the lab adopts (:mod:`lab.mn.attach`) is recorded as ``mininet-adopted``: its removal
spares the recorded shell, which is Mininet's to end (``net.stop()``). A shell this runtime
makes ends in ``uclab:<lab>:<node>`` instead of Mininet's ``mininet:<node>``, so ``mn -c``
(``pkill -9 -f mininet:``) leaves a running uclab lab alone (docs/mininet.md lists what
``mn -c`` does and what it would touch).

Daemons are started in the named namespace (setns), not through the shell: they do not share
the shell's private mount namespace and survive it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lab.base.errors import LabError
from lab.base.state import Record
from lab.kernel import namespaces, processes
from lab.runtime.base import NodeHandle, Removal
from lab.runtime.netns import NetnsRuntime

if TYPE_CHECKING:
    from lab.base.state import LabState
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


class MininetRuntime(NetnsRuntime):
    """Nodes as Mininet hosts, links as Mininet links (see the module docstring); processes,
    commands, the stop fault as on the namespace runtime, by the namespace's name.

    ``MininetRuntime()`` makes the hosts (``uclab up --runtime mininet``); the hosts it made
    are in :attr:`hosts`. ``MininetRuntime(net)`` adopts the hosts of the user's started
    ``Mininet`` object ``net`` instead (:func:`lab.mn.attach.start`)."""

    name = NAME
    record_kinds = frozenset({"mininet-host", "mininet-adopted"})
    shares_host_filesystem = True

    def __init__(self, net: Any = None) -> None:
        self.net = net
        self.hosts: dict[str, Any] = {}  # node -> mininet host, made or adopted here
        self.links: list[Any] = []  # mininet.link.Link, in the order made

    def preflight(self, lab: str, nodes: Sequence[Node]) -> None:
        import_mininet()
        super().preflight(lab, nodes)
        if self.net is not None:
            missing = [n.name for n in nodes if n.name not in self.net]
            if missing:
                raise LabError(f"the Mininet network has no host {', '.join(missing)}: build "
                               "it from the same topology (Mininet(topo=UclabTopo(...)))")

    def create(self, state: LabState, node: Node) -> NodeHandle:
        handle = self.handle(state.lab, node.name)
        kind = "mininet-host" if self.net is None else "mininet-adopted"
        record = state.add(Record(kind, handle.netns))
        try:
            host = self._host(state.lab, node.name)
            try:
                namespaces.bind_netns(handle.netns, host.pid)
            except LabError:
                if self.net is None:
                    host.terminate()  # made here: its shell ends now
                raise
        except LabError:
            state.drop(record)  # never made, or the name is not ours: never touch it
            raise
        self.hosts[node.name] = host
        start = processes.start_time(host.pid)
        state.confirm(record, pid=host.pid, start=-1 if start is None else start,
                      argv=processes.cmdline(host.pid))
        return handle

    def _host(self, lab: str, node: str) -> Any:
        if self.net is not None:
            host = self.net.get(node)
            if host.shell is None or host.shell.poll() is not None:
                raise LabError(f"Mininet host {node} has no shell: net.start() it first")
            return host
        try:
            return host_class()(node, lab=lab, inNamespace=True)
        except Exception as exc:  # Mininet raises plain Exceptions
            raise LabError(f"Mininet could not make host {node}: {exc}") from None

    def add_link(self, a: NodeHandle, a_if: str, b: NodeHandle, b_if: str) -> None:
        """A Mininet link (a veth pair made in ``a``'s shell with its peer born in ``b``)
        between interface ``a_if`` of ``a`` and ``b_if`` of ``b``, hosts of this runtime."""
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

    def remove(self, state: LabState, records: Sequence[Record]) -> Removal:
        """The shells this runtime made first (SIGKILL: an interactive bash ignores SIGTERM),
        then every other process in the recorded namespaces (an adopted host's shell spared),
        then their names."""
        chosen = [r for r in records if r.kind in self.record_kinds]
        shells: dict[str, list[processes.ProcessId]] = {}
        for r in chosen:
            if (r.pid is not None and r.start is not None
                    and processes.alive(shell := processes.ProcessId(r.pid, r.start))):
                shells.setdefault(r.kind, []).append(shell)
        stopped = [p.pid for p in shells.get("mininet-host", []) if _kill(p)]
        spared = {p.pid for p in shells.get("mininet-adopted", [])}
        found = processes.pids_in_namespaces([r.name for r in chosen])
        victims = [processes.ProcessId(pid, st) for pids in found.values() for pid in pids
                   if pid not in spared and (st := processes.start_time(pid)) is not None]
        stopped += [p.pid for p in processes.stop_processes(victims)]
        for r in chosen:
            self.hosts.pop(r.name.removeprefix(f"{state.lab}-"), None)
        return Removal([r.name for r in chosen if namespaces.delete_netns(r.name)], stopped)


def _kill(proc: processes.ProcessId) -> bool:
    """SIGKILL ``proc`` (pid and start time checked just before); True if it was sent."""
    if not processes.alive(proc):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
        return True
    return False
