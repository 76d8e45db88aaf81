"""The Docker runtime against the real engine: a container per node with no network of
Docker's, its namespace named under /run/netns so links made from the host reach it, daemons
run inside by docker exec, a stop is a killed container, removal by records and labels only."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import topology
from lab.base.errors import LabError
from lab.base.state import LabState, Record
from lab.kernel import namespaces, processes
from lab.runtime.docker import LAB_LABEL, NODE_LABEL, DockerRuntime
from tests.dockerhelp import TEST_LABEL, containers_labelled, docker, uclab_image
from tests.labhelp import lab_name

# the first test of a clean machine builds the image (debootstrap, apt, pip: minutes)
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[DockerRuntime, LabState]]:
    name = lab_name()
    rt = DockerRuntime(uclab_image())
    topo = topology.load()
    state = LabState.create(name, topo.path, {"cms": "cms"}, {}, root=tmp_path / "run")
    try:
        yield rt, state
    finally:
        rt.remove(state, list(reversed(state.records)))
        state.release()
        assert containers_labelled(LAB_LABEL, name) == []
        assert not any(Path("/run/netns").glob(f"{name}-*"))


def _wait_for(path: Path, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in (content := path.read_text()):
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {path} after {timeout} s")


def test_a_node_is_a_labelled_container_without_docker_network(
        lab: tuple[DockerRuntime, LabState]) -> None:
    rt, state = lab
    node = topology.load().node("cms")
    rt.preflight(state.lab, [node])
    h = rt.create(state, node)
    assert h.netns == f"{state.lab}-cms"
    info = rt.client.api.inspect_container(h.netns)
    assert info["Config"]["Labels"][LAB_LABEL] == state.lab
    assert info["Config"]["Labels"][NODE_LABEL] == "cms"
    assert info["HostConfig"]["NetworkMode"] == "none"
    assert set(info["HostConfig"]["CapAdd"]) >= {"NET_ADMIN", "NET_RAW"}
    assert not info["HostConfig"]["Privileged"]
    assert str(state.run.path) in {m["Destination"] for m in info["Mounts"]}
    # /run/netns/<lab>-cms is the container's own namespace: only lo in it
    pid = info["State"]["Pid"]
    assert namespaces.netns_id(h.netns) == (os.stat(f"/proc/{pid}/ns/net").st_dev,
                                            os.stat(f"/proc/{pid}/ns/net").st_ino)
    links = subprocess.run(["ip", "-n", h.netns, "-o", "link"], capture_output=True, text=True,
                           check=True).stdout
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
    # records: the container and the namespace's name, both confirmed
    assert [(r.kind, r.name, r.done) for r in state.records] == [
        ("container", h.netns, True), ("netns", h.netns, True)]
    hostname = subprocess.run(rt.exec_argv(h, ["cat", "/etc/hostname"]), capture_output=True,
                              text=True, check=True, timeout=30).stdout
    assert hostname.strip() == "cms"


def test_links_from_the_host_reach_the_containers_and_daemons_run_inside(
        lab: tuple[DockerRuntime, LabState]) -> None:
    rt, state = lab
    topo = topology.load()
    state.nodes["expressway-c"] = "expressway-c"  # both containers are made at once
    a, b = (rt.create(state, topo.node(n)) for n in ("cms", "expressway-c"))
    assert [(r.kind, r.name) for r in state.records] == [
        ("container", a.netns), ("container", b.netns), ("netns", a.netns), ("netns", b.netns)]
    ip = ["ip", "-n", a.netns]
    subprocess.run([*ip, "link", "add", "t0", "type", "veth", "peer", "t1", "netns", b.netns],
                   check=True)
    subprocess.run([*ip, "addr", "add", "10.99.0.1/30", "dev", "t0"], check=True)
    subprocess.run(["ip", "-n", b.netns, "addr", "add", "10.99.0.2/30", "dev", "t1"], check=True)
    subprocess.run([*ip, "link", "set", "t0", "up"], check=True)
    subprocess.run(["ip", "-n", b.netns, "link", "set", "t1", "up"], check=True)
    # a listener inside cms, started as the lab starts daemons (the host's interpreter is
    # mapped to the image's), reached from inside expressway-c over the veth
    server = ("import socket; s = socket.create_server(('10.99.0.1', 5070)); "
              "print('listening', flush=True); c, peer = s.accept(); "
              "print('accepted', peer[0], c.recv(5).decode(), flush=True)")
    log = state.run.log("cms")
    proc = rt.spawn(a, [sys.executable, "-c", server], log, env={"UCLAB_TEST": "1"})
    assert processes.alive(proc)
    assert os.stat(f"/proc/{proc.pid}/ns/net").st_ino == namespaces.netns_id(a.netns)[1]  # type: ignore[index]
    _wait_for(log, "listening")
    client = ("import socket; socket.create_connection(('10.99.0.1', 5070), timeout=5)"
              ".sendall(b'hello')")
    subprocess.run(rt.exec_argv(b, ["/opt/uclab/.venv/bin/python", "-c", client]), check=True,
                   timeout=30)
    assert "accepted 10.99.0.2 hello" in _wait_for(log, "accepted")
    # docker logs shows the node's log (the container's first process follows it)
    deadline = time.monotonic() + 10
    while "accepted" not in docker("logs", a.netns).stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "accepted 10.99.0.2 hello" in docker("logs", a.netns).stdout


def test_stop_kills_the_container_and_keeps_its_links(lab: tuple[DockerRuntime, LabState]) -> None:
    rt, state = lab
    h = rt.create(state, topology.load().node("cms"))
    subprocess.run(["ip", "-n", h.netns, "link", "add", "d0", "type", "veth", "peer", "d1"],
                   check=True)
    proc = rt.spawn(h, ["sleep", "600"], state.run.log("cms"))
    assert processes.alive(proc)
    assert rt.stop(state, h) == [
        f"killed container {h.netns} (docker kill: every process of the node)"]
    assert rt.client.containers.get(h.netns).status == "exited"
    deadline = time.monotonic() + 5
    while processes.alive(proc) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not processes.alive(proc)
    out = subprocess.run(["ip", "-n", h.netns, "-o", "link"], capture_output=True, text=True,
                         check=True).stdout
    assert "d0" in out
    removed = rt.remove(state, list(reversed(state.records))).nodes
    assert removed == [f"netns {h.netns}", f"container {h.netns}"]
    assert not namespaces.netns_exists(h.netns)
    assert containers_labelled(LAB_LABEL, state.lab) == []


def test_a_namesake_container_is_refused_and_never_removed(
        lab: tuple[DockerRuntime, LabState]) -> None:
    rt, state = lab
    node = topology.load().node("cms")
    name = rt.handle(state.lab, "cms").netns
    made = docker("create", "--name", name, "--label", f"{TEST_LABEL}={state.lab}",
                  "--network", "none", uclab_image(), "--help")
    assert made.returncode == 0, made.stderr
    try:
        with pytest.raises(LabError, match=f"containers {name} exist already"):
            rt.preflight(state.lab, [node])
        with pytest.raises(LabError, match="cannot create container"):
            rt.create(state, node)
        assert state.records == []  # the name was someone else's: not recorded as ours
        # even a record naming it (a forged or stale state) does not remove it
        assert rt.remove(state, [Record("container", name, done=True)]).nodes == []
        assert containers_labelled(TEST_LABEL, state.lab) == [name]
    finally:
        docker("rm", "-f", name)


def test_a_record_without_its_container_is_removed_quietly(
        lab: tuple[DockerRuntime, LabState]) -> None:
    """A kill -9 between the record and docker's create leaves a record of nothing."""
    rt, state = lab
    state.add(Record("container", rt.handle(state.lab, "cms").netns))
    state.add(Record("netns", rt.handle(state.lab, "cms").netns))
    assert rt.remove(state, list(reversed(state.records))).nodes == []
