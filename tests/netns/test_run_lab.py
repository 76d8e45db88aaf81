"""``uclab run screen-share`` as a trainee runs it: twice in a row, with two lab names at once,
on a lab that is already up (whose dead daemon ``uclab status`` reports), and with a daemon
killed mid-call; each time ``uclab down`` (or the run itself) leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab import scenario
from lab.base.names import RUN_ROOT
from lab.base.state import LabState
from lab.kernel import processes
from lab.run import KillDaemon, RunOptions, RunPlan, run
from tests.labhelp import lab_name, lab_namespaces

ROOT = Path(__file__).resolve().parent.parent.parent
MEDIA = "0.3"  # seconds of media: enough for RTP both ways and an RTCP exchange


def uclab(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, check=False)


def assert_gone(lab: str, pids: Sequence[int] = ()) -> None:
    assert lab_namespaces(lab) == []
    assert not (RUN_ROOT / lab).exists()
    for pid in pids:  # the daemons of that run (pid reuse within a second is not a worry)
        assert not running(pid), f"daemon pid {pid} still runs"


def running(pid: int) -> bool:
    """A process that is not a zombie (init reaps the daemons, whose launcher has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def run_cli(lab: str, tmp: Path, *extra: str) -> dict[str, Any]:
    out = tmp / f"{lab}.json"
    proc = uclab("run", "screen-share", "--name", lab, "--json", str(out), "--media-seconds",
                 MEDIA, "--width", "120", *extra)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "PASS: all 33 steps of flow.md §3 seen in order" in proc.stdout
    assert "scenario screen-share: expectations hold" in proc.stdout
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def daemon_pids(data: dict[str, Any]) -> list[int]:
    return [int(d["pid"]) for d in data["run"]["daemons"].values()]


def test_twice_in_a_row_then_two_labs_at_once(tmp_path: Path) -> None:
    lab = lab_name()
    for _ in range(2):
        data = run_cli(lab, tmp_path)
        assert data["verdict"]["verdict"] == "pass"
        assert [s["status"] for s in data["steps"]] == ["seen"] * 33
        assert data["run"]["built"] is True and data["run"]["passed"] is True
        assert len(daemon_pids(data)) == 2
        assert_gone(lab, daemon_pids(data))

    labs = [lab_name(), lab_name()]
    results: dict[str, dict[str, Any]] = {}
    errors: list[BaseException] = []

    def one(name: str) -> None:
        try:
            results[name] = run_cli(name, tmp_path)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(name,)) for name in labs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for name in labs:
        assert results[name]["verdict"]["verdict"] == "pass"
        assert_gone(name, daemon_pids(results[name]))


def _daemon_pid(lab: str, node: str) -> int:
    state = LabState.load(lab)
    record = next(r for r in state.records if r.name == f"daemon:{node}")
    assert record.pid is not None
    return record.pid


def test_status_reports_a_dead_daemon_and_run_restarts_them(tmp_path: Path) -> None:
    lab = lab_name()
    up = uclab("up", "--name", lab, "--json")
    assert up.returncode == 0, up.stderr
    try:
        assert set(json.loads(up.stdout)["steps"]) >= {"pki", "daemons"}
        status = json.loads(uclab("status", "--name", lab, "--json").stdout)
        assert [(d["node"], d["ready"]) for d in status["daemons"]] == [
            (n, True) for n in ("sfb-client", "sfb-edge", "expressway-e", "expressway-c", "cms")]
        os.kill(_daemon_pid(lab, "expressway-c"), signal.SIGKILL)
        proc = uclab("status", "--name", lab, "--json")
        assert proc.returncode == 1
        dead = [d for d in json.loads(proc.stdout)["daemons"] if not d["alive"]]
        assert [d["node"] for d in dead] == ["expressway-c"]
        assert any("expressway-c ready" in line for line in dead[0]["last_lines"])
        text = uclab("status", "--name", lab)
        assert "the expressway-c daemon" in text.stdout and "is dead" in text.stdout

        # uclab run on the lab that is up: its daemons restarted under the capture, kept up
        data = run_cli(lab, tmp_path)
        assert data["run"]["built"] is False
        status = json.loads(uclab("status", "--name", lab, "--json").stdout)
        assert all(d["ready"] for d in status["daemons"])
    finally:
        down = uclab("down", "--name", lab)
    assert down.returncode == 0, down.stderr
    assert_gone(lab, daemon_pids(data))


def test_a_daemon_killed_mid_call_fails_the_run_naming_node_and_step() -> None:
    lab = lab_name()
    plan = RunPlan.of(scenario.load("screen-share"), media_seconds=0.3,
                      faults=(KillDaemon("cms", at_event="invite"),))
    result = run(plan, RunOptions(lab=lab))
    assert not result.passed
    assert result.ladder is not None
    verdict = result.ladder.verdict
    # CMS died when the INVITE reached it: the ladder stops at the first step CMS had to send
    # (the Allocate, or a later one if its first messages left before the kill)
    assert verdict.stopped_at in (6, 8, 10, 11), verdict.summary
    assert verdict.node == "Meeting Server"
    assert f"stopped at step {verdict.stopped_at}" in result.unmet[0]
    assert [s.number for s in result.ladder.steps if s.seen][:5] == [1, 2, 3, 4, 5]
    out = result.outcome
    assert out.reached == "died" and [d.node for d in out.dead] == ["cms"]
    assert any("event invite" in line for line in out.dead[0].last_lines)
    assert out.faults and out.faults[0].startswith("killed the cms daemon")
    assert_gone(lab)
    assert not processes.pids_in_namespaces([f"{lab}-cms"])[f"{lab}-cms"]
