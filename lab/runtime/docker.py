"""The Docker runtime: every node of the lab is a container of the uclab image, as containerlab
makes them (``uclab up --runtime docker``; docs/docker.md).

A node ``cms`` of lab ``uclab`` is the container ``uclab-cms`` (labels :data:`LAB_LABEL`,
:data:`NODE_LABEL` and :data:`STATE_LABEL`), made through Docker's Python SDK with no network
of Docker's (``network_mode: none``: a management network would be a second path between the
nodes), capabilities NET_ADMIN and NET_RAW (``ip``, ``tcpdump`` and ``ping`` inside it), the
lab's run folder bind-mounted at the same path (configurations, control sockets, logs, key log)
and the host's ``lab``/``nodes`` packages mounted read-only over the image's, so host and nodes
run the same code. Its first process (Docker's init, then ``tail -F`` of the node's log) makes
``docker logs uclab-cms`` show the daemon's log. The container's network namespace is named
``/run/netns/uclab-cms`` (a bind mount of ``/proc/<pid>/ns/net``), so the lab's build steps
(veths, bridges, addresses, routes, NAT, nftables, tcpdump) reach it unchanged.

Records, each written before its object is made: ``container`` (name = container name) and
``netns`` (the bind mount). A container is removed only if its labels name this lab *and* this
very state file and creation time, so another lab's container of the same name, or one made
after ours was gone, is never touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.base.errors import LabError
from lab.base.state import LabState, Record
from lab.kernel import namespaces, processes
from lab.runtime.base import NodeHandle, Removal

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from lab.topology import Node

log = logging.getLogger(__name__)

LAB_LABEL = "org.uclab.lab"
NODE_LABEL = "org.uclab.node"
STATE_LABEL = "org.uclab.state"  #: "<state file>@<creation time>": this very lab, not a namesake
DEFAULT_IMAGE = "uclab:runtime"
IMAGE_ENV = "UCLAB_IMAGE"
IMAGE_ROOT = Path("/opt/uclab")  #: where the Dockerfile installs the project
IMAGE_PYTHON = str(IMAGE_ROOT / ".venv/bin/python")
CAPS = ("NET_ADMIN", "NET_RAW")
SOURCE = Path(__file__).resolve().parents[2]  #: the host's checkout (lab/ and nodes/)
PARALLEL = 8  #: containers created (and removed) at once


def _client() -> docker.DockerClient:
    import docker  # noqa: PLC0415 - only when the docker runtime is used

    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        raise LabError(f"the Docker engine does not answer ({exc}): start it (./setup starts "
                       "dockerd when none runs) or set DOCKER_HOST") from None
    return client


def state_label(state: LabState) -> str:
    return f"{state.run.state_file}@{state.created!r}"


class DockerRuntime:
    """:class:`lab.runtime.base.NodeRuntime` with a container per node."""

    name = "docker"
    record_kinds = frozenset({"container", "netns"})
    shares_host_filesystem = False  # each daemon is started inside its container (spawn)

    def __init__(self, image: str | None = None, *, mount_source: bool = True) -> None:
        self.image = image or os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE
        self.mount_source = mount_source
        self._docker: docker.DockerClient | None = None
        self._started: dict[str, Container | LabError] = {}

    @property
    def client(self) -> docker.DockerClient:
        if self._docker is None:
            self._docker = _client()
        return self._docker

    def handle(self, lab: str, node: str) -> NodeHandle:
        return NodeHandle(lab, node, f"{lab}-{node}", self.name)

    # -- before anything is made ------------------------------------------------------------------
    def preflight(self, lab: str, nodes: Sequence[Node]) -> None:
        import docker  # noqa: PLC0415

        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            raise LabError(f"the image {self.image} does not exist here: build it with "
                           "`python -m lab.runtime.image` (docs/docker.md), or name "
                           f"another with {IMAGE_ENV}=...") from None
        taken = []
        for n in nodes:
            name = self.handle(lab, n.name).netns
            with contextlib.suppress(docker.errors.NotFound):
                self.client.containers.get(name)
                taken.append(name)
        if taken:
            raise LabError(f"containers {', '.join(sorted(taken))} exist already and are not "
                           "this lab's: choose another name with --name, or remove them")

    # -- a node -----------------------------------------------------------------------------------
    def create(self, state: LabState, node: Node) -> NodeHandle:
        """The first call records and starts the containers of every node of the lab at
        once (``state.nodes``: Docker creates them in parallel); each call then names its
        node's namespace under /run/netns."""
        h = self.handle(state.lab, node.name)
        if h.netns not in self._started:
            self._start_all(state, [h, *(self.handle(state.lab, n) for n in state.nodes
                                         if n != node.name)])
        container = self._started.pop(h.netns)
        if isinstance(container, LabError):
            raise container
        container.reload()
        pid = int(container.attrs["State"]["Pid"])
        if pid <= 0:
            raise LabError(f"container {h.netns} is not running: "
                           f"{container.attrs['State'].get('Error') or container.status}")
        ns = state.add(Record("netns", h.netns))
        try:
            namespaces.bind_netns(h.netns, pid)
        except LabError:
            state.drop(ns)  # the name is someone else's
            raise
        state.confirm(ns, pid=pid)
        return h

    def _start_all(self, state: LabState, handles: Sequence[NodeHandle]) -> None:
        recorded = {r.name for r in state.records if r.kind == "container"}
        todo = [h for h in handles if h.netns not in recorded]
        records = {h.netns: state.add(Record("container", h.netns)) for h in todo}
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            results = list(pool.map(lambda h: self._run(state, h), todo))
        for h, result in zip(todo, results, strict=True):
            if isinstance(result, _Taken):  # the name is someone else's: never touch it
                state.drop(records[h.netns])
                self._started[h.netns] = result.error
            elif isinstance(result, LabError):
                self._started[h.netns] = result
            else:
                state.confirm(records[h.netns], argv=[result.id])
                self._started[h.netns] = result

    def _run(self, state: LabState, h: NodeHandle) -> Container | LabError | _Taken:
        """Create and start one container (in a worker thread: errors are returned)."""
        import docker  # noqa: PLC0415

        run = str(state.run.path)
        log_path = state.run.log(h.node)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.touch()
        volumes = {run: {"bind": run, "mode": "rw"}}
        if self.mount_source:
            for pkg in ("lab", "nodes"):
                volumes[str(SOURCE / pkg)] = {"bind": str(IMAGE_ROOT / pkg), "mode": "ro"}
        try:
            return self.client.containers.run(
                self.image, name=h.netns, hostname=h.node, detach=True, init=True,
                entrypoint=["tail", "-n", "+1", "-F", str(log_path)],
                labels={LAB_LABEL: h.lab, NODE_LABEL: h.node, STATE_LABEL: state_label(state)},
                network_mode="none", cap_add=list(CAPS), volumes=volumes,
                environment={"UCLAB_NODE": h.node, "UCLAB_LAB": h.lab})
        except docker.errors.APIError as exc:
            error = LabError(f"cannot create container {h.netns}: {exc.explanation}")
            return _Taken(error) if exc.status_code == 409 else error

    def spawn(self, handle: NodeHandle, argv: Sequence[str], log_path: Path, *,
              env: Mapping[str, str] | None = None) -> processes.ProcessId:
        """``docker exec`` detached; output appended to ``log_path`` (in the shared run
        folder); the identity is the host's pid and start time of the exec'd process."""
        argv = [IMAGE_PYTHON if a == sys.executable else a for a in argv]
        shell = ["sh", "-c", 'exec "$@" >>"$UCLAB_LOG" 2>&1', "sh", *argv]
        environment = {"UCLAB_LOG": str(log_path), **_added_env(env)}
        api = self.client.api
        try:
            exec_id = api.exec_create(handle.netns, shell, environment=environment)["Id"]
            api.exec_start(exec_id, detach=True)
            pid = _exec_pid(api, exec_id)
        except Exception as exc:
            raise LabError(f"cannot start {argv[0]} in container {handle.netns}: {exc}") from None
        start = processes.start_time(pid)
        return processes.ProcessId(pid, start if start is not None else -1)

    def exec_argv(self, handle: NodeHandle, argv: Sequence[str], *,
                  interactive: bool = False) -> list[str]:
        tty = interactive and sys.stdin.isatty()  # docker refuses -t without a terminal
        return ["docker", "exec", "-it" if tty else "-i", handle.netns, *argv]

    def stop(self, state: LabState, handle: NodeHandle) -> list[str]:
        """A crash of that host: every process of the container killed at once (``docker
        kill``, SIGKILL); its namespace and links stay, named by ``/run/netns``."""
        import docker  # noqa: PLC0415

        try:
            container = self.client.containers.get(handle.netns)
            if container.labels.get(STATE_LABEL) != state_label(state):
                return []
            container.kill()
        except (docker.errors.NotFound, docker.errors.APIError):
            return []
        return [f"killed container {handle.netns} (docker kill: every process of the node)"]

    # -- removal ----------------------------------------------------------------------------------
    def remove(self, state: LabState, records: Sequence[Record]) -> Removal:
        """Newest first: the namespaces' names unmounted, then the containers (with their
        processes) removed at once, each only if its labels say it is this lab's.
        ``Removal.nodes`` says which of the two each name was."""
        removed = Removal()
        for r in records:
            if r.kind == "netns" and namespaces.delete_netns(r.name):
                removed.nodes.append(f"netns {r.name}")
        names = [r.name for r in records if r.kind == "container"]
        if names:
            with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
                gone = list(pool.map(lambda n: self._remove_container(state, n), names))
            removed.nodes += [f"container {n}" for n, ok in zip(names, gone, strict=True) if ok]
        return removed

    def _remove_container(self, state: LabState, name: str) -> bool:
        import docker  # noqa: PLC0415

        try:
            c = self.client.containers.get(name)
        except docker.errors.NotFound:
            return False
        labels = c.labels
        if labels.get(LAB_LABEL) != state.lab or labels.get(STATE_LABEL) != state_label(state):
            log.warning("not removing container %s: its labels %s are not this lab's", name,
                        {k: v for k, v in labels.items() if k.startswith("org.uclab.")})
            return False
        with contextlib.suppress(docker.errors.NotFound):
            c.remove(force=True, v=True)
        return True


@dataclass(frozen=True)
class _Taken:
    """Docker refused a name (409): another container has it."""

    error: LabError


def _added_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """What the caller added to (or changed in) this process's environment: the container has
    its own PATH and Python; the host's PYTHONPATH means nothing there."""
    if env is None:
        return {}
    return {k: v for k, v in env.items()
            if os.environ.get(k) != v and k not in ("PYTHONPATH", "PATH", "VIRTUAL_ENV")}


def _exec_pid(api: Any, exec_id: str, tries: int = 200) -> int:
    """The host pid of a started exec (Docker fills it in once the process runs)."""
    import time  # noqa: PLC0415

    for _ in range(tries):
        info = api.exec_inspect(exec_id)
        if info.get("Pid"):
            return int(info["Pid"])
        if info.get("ExitCode") is not None and not info.get("Running"):
            raise LabError(f"exited at once with code {info['ExitCode']}")
        time.sleep(0.005)
    raise LabError("no pid after 1 s")
