"""The whole lab on the Docker runtime (``--runtime docker``), against the real engine: the
screen share from the capture, a failure scenario with its diagnosis, a firewall check with a
blocked flow, and kill -9 of ``up`` at three moments followed by ``uclab clean``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lab.base.names import RUN_ROOT
from lab.runtime.docker import LAB_LABEL, NODE_LABEL
from tests.dockerhelp import containers_labelled, docker, uclab_image
from tests.firewallhelp import POLICIES
from tests.labhelp import lab_name, lab_namespaces

ROOT = Path(__file__).resolve().parent.parent.parent
# the first test of a clean machine builds the image (debootstrap, apt, pip: minutes)
pytestmark = pytest.mark.timeout(900)
NODES = ["cms", "expressway-c", "expressway-e", "fw-inside", "fw-outside", "sfb-client",
         "sfb-edge", "sfb-nat"]


def uclab(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UCLAB_IMAGE": uclab_image()}
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, check=False, env=env)


def assert_gone(lab: str) -> None:
    assert containers_labelled(LAB_LABEL, lab) == []
    assert lab_namespaces(lab) == []
    assert not (RUN_ROOT / lab).exists()


def down_if_left(lab: str) -> None:
    if (RUN_ROOT / lab).exists():
        uclab("down", "--name", lab)


def test_screen_share_33_of_33_on_containers_then_down(tmp_path: Path) -> None:
    lab = lab_name()
    out = tmp_path / "share.json"
    try:
        proc = uclab("run", "screen-share", "--runtime", "docker", "--name", lab, "--keep",
                     "--json", str(out), "--pcap", str(tmp_path / "share.pcapng"),
                     "--media-seconds", "0.3", "--width", "120")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "PASS: all 33 steps of flow.md §3 seen in order" in proc.stdout
        data: dict[str, Any] = json.loads(out.read_text())
        assert [s["status"] for s in data["steps"]] == ["seen"] * 33
        assert (tmp_path / "share.pcapng").stat().st_size > 10000
        # --keep: the lab is up, as containerlab users see it
        assert containers_labelled(LAB_LABEL, lab) == sorted(f"{lab}-{n}" for n in NODES)
        for node in NODES:
            info = json.loads(docker("inspect", f"{lab}-{node}").stdout)[0]
            assert info["State"]["Running"], node
            assert info["HostConfig"]["NetworkMode"] == "none"
            assert info["Config"]["Labels"][NODE_LABEL] == node
        status = json.loads(uclab("status", "--name", lab, "--json").stdout)
        assert [(d["node"], d["ready"]) for d in status["daemons"]] == [
            (n, True) for n in ("sfb-client", "sfb-edge", "expressway-e", "expressway-c", "cms")]
        assert "ready in" in docker("logs", f"{lab}-cms").stdout  # the daemon's own log
        ss = uclab("exec", "--name", lab, "cms", "--", "ss", "-tln")
        assert "10.48.54.230:5061" in ss.stdout, ss.stdout + ss.stderr
        # the daemon runs inside the container: its pid namespace is the container's
        pid = next(int(d["pid"]) for d in status["daemons"] if d["node"] == "cms")
        init = json.loads(docker("inspect", f"{lab}-cms").stdout)[0]["State"]["Pid"]
        assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{init}/ns/pid")
        down = uclab("down", "--name", lab, "--json")
        assert down.returncode == 0, down.stderr
        assert sorted(json.loads(down.stdout)["namespaces"]) == sorted(
            [f"container {lab}-{n}" for n in NODES] + [f"netns {lab}-{n}" for n in NODES])
    finally:
        down_if_left(lab)
    assert_gone(lab)


def test_a_failure_scenario_gives_its_diagnosis_on_containers(tmp_path: Path) -> None:
    """A stop fault is a killed container: CMS dies before answering, step 11 breaks."""
    lab = lab_name()
    out = tmp_path / "dies.json"
    try:
        proc = uclab("run", "meeting-server-dies-before-answering", "--runtime", "docker",
                     "--name", lab, "--json", str(out), "--width", "120")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        data: dict[str, Any] = json.loads(out.read_text())
    finally:
        down_if_left(lab)
    assert data["verdict"]["verdict"] == "fail"
    assert data["verdict"]["stopped_at"] == 11
    reasons = " ".join(data["verdict"]["reasons"])
    assert "Meeting Server closed the connection" in reasons
    assert "without sending its 200 OK" in reasons
    assert data["run"]["expectations"]["unmet"] == []
    assert f"fault: killed container {lab}-cms (docker kill" in " ".join(proc.stdout.split())
    assert_gone(lab)


def test_firewall_check_names_the_blocked_flow_and_its_rule(tmp_path: Path) -> None:
    lab = lab_name()
    out = tmp_path / "fw.json"
    try:
        proc = uclab("firewall", "check", "--runtime", "docker", "--name", lab, "--json",
                     str(out), "--policy",
                     f"fw-inside={POLICIES / 'inside-traversal-wrong-direction.nft'}")
        assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    finally:
        down_if_left(lab)
    report = json.loads(out.read_text())
    f3 = next(f for f in report["flows"] if f["id"] == "F3")
    assert (f3["status"], f3["rule"], f3["firewall"]) == (
        "blocked", "policy drop of inet vcfw forward", "fw-inside")
    assert f3["step"].startswith("3 INVITE over the traversal zone")
    assert report["over_permissive"][0]["id"] == "I1"
    assert_gone(lab)


def _records(lab: str) -> list[dict[str, Any]]:
    try:
        records: list[dict[str, Any]] = json.loads(
            (RUN_ROOT / lab / "state.json").read_text())["records"]
    except (OSError, ValueError, KeyError):
        return []
    return records


MOMENTS: dict[str, Callable[[list[dict[str, Any]]], bool]] = {
    # the first container recorded (docker may be creating it right now)
    "first container": lambda rs: any(r["kind"] == "container" for r in rs),
    # half the nodes made, their namespaces named
    "half the nodes": lambda rs: sum(r["kind"] == "netns" and r["done"] for r in rs) >= 4,
    # the daemons being started inside the containers
    "daemons": lambda rs: any(r["kind"] == "process" for r in rs),
}


def test_kill_9_of_up_at_three_moments_then_clean_leaves_nothing() -> None:
    healthy = lab_name()
    up = uclab("up", "--runtime", "docker", "--name", healthy)
    assert up.returncode == 0, up.stderr
    try:
        crashed = []
        env = {**os.environ, "UCLAB_IMAGE": uclab_image()}
        for moment, reached in MOMENTS.items():
            lab = lab_name()
            proc = subprocess.Popen([sys.executable, "-m", "lab", "up", "--runtime", "docker",
                                     "--name", lab], cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while proc.poll() is None and not reached(_records(lab)):
                assert time.monotonic() < deadline, f"up never reached {moment}"
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL, f"up ended before {moment}"
            crashed.append(lab)
        clean = uclab("clean", "--json")
        assert clean.returncode == 0, clean.stderr
        report = json.loads(clean.stdout)
        for lab in crashed:
            assert isinstance(report[lab], dict), report[lab]
            assert_gone(lab)
        # the healthy lab beside them is left as it was
        assert report[healthy].startswith("left: it is up")
        assert containers_labelled(LAB_LABEL, healthy) == sorted(f"{healthy}-{n}" for n in NODES)
        assert len(lab_namespaces(healthy)) == 8
    finally:
        for lab in [healthy, *[lab for lab in crashed if (RUN_ROOT / lab).exists()]]:
            down_if_left(lab)
    assert_gone(healthy)
