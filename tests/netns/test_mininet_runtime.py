"""``uclab up --runtime mininet``: every node a Mininet host (recorded with its tagged shell),
every veth a Mininet link; then status, exec, the share (33/33 from its capture), a failure
scenario, a firewall check and down work as on the namespace runtime, and a kill -9 of ``up``
followed by ``uclab clean`` leaves nothing."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab.base.names import RUN_ROOT
from lab.kernel import processes
from tests.labhelp import lab_name
from tests.mininethelp import leftovers

ROOT = Path(__file__).resolve().parent.parent.parent
MEDIA = "0.3"


def uclab(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, check=False)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    return proc.stdout


def test_up_status_exec_share_down() -> None:
    lab = lab_name()
    try:
        up = json.loads(ok(uclab("up", "--runtime", "mininet", "--name", lab, "--json")))
        assert set(up["namespaces"].values()) == {f"{lab}-{n}" for n in up["namespaces"]}
        state = json.loads((RUN_ROOT / lab / "state.json").read_text())
        assert state["runtime"] == "mininet"
        hosts = [r for r in state["records"] if r["kind"] == "mininet-host"]
        assert len(hosts) == 8
        for r in hosts:  # a Mininet shell, tagged so that mn -c spares it
            node = r["name"].removeprefix(f"{lab}-")
            assert r["argv"][0] == "bash" and r["argv"][-1] == f"uclab:{lab}:{node}", r
            assert r["done"] and r["pid"] > 0
        for r in hosts:  # the shells ended with `uclab up`; the named namespaces live on
            assert not processes.alive(processes.ProcessId(r["pid"], r["start"]))
        status = json.loads(ok(uclab("status", "--name", lab, "--json")))
        assert all(n["present"] for n in status["nodes"])
        assert "10.48.54.230/24" in ok(uclab("exec", "--name", lab, "cms", "--", "ip", "-br",
                                             "addr", "show", "eth0"))
        links = ok(uclab("exec", "--name", lab, "fw-inside", "--", "bridge", "link"))
        for port in ("cms", "expressway-c", "expressway-e"):  # the firewall's Linux bridge
            assert re.search(rf"^\d+: {port}(@\S+)?: .* master vc-internal ", links, re.M), links
        run = ok(uclab("run", "screen-share", "--name", lab, "--media-seconds", MEDIA))
        assert "PASS: all 33 steps of flow.md §3 seen in order" in run
        down = ok(uclab("down", "--name", lab, "--json"))
        assert len(json.loads(down)["namespaces"]) == 8
    finally:
        if (RUN_ROOT / lab).exists():
            uclab("down", "--name", lab)
    assert leftovers(lab) == []


def test_a_failure_scenario_on_a_mininet_lab() -> None:
    """The run builds its own Mininet lab (its shells alive until the run takes it down); the
    stop fault kills CMS's daemon through the runtime before it answers; the ladder stops at
    step 11, as the scenario expects."""
    lab = lab_name()
    proc = uclab("run", "meeting-server-dies-before-answering", "--runtime", "mininet",
                 "--name", lab, "--media-seconds", MEDIA)
    out = ok(proc)
    assert "the ladder stopped at step 11" in out
    assert "expectations hold (verdict fail" in out
    # the run's own Mininet shells were ended by their records, not found ignoring SIGTERM
    assert "ignored SIGTERM" not in proc.stderr, proc.stderr
    assert leftovers(lab) == []


def test_firewall_check_on_a_mininet_lab(tmp_path: Path) -> None:
    """The baseline policies judged by the real share through the Mininet firewalls: every
    required flow passes, judged at its firewall's bridge."""
    lab = lab_name()
    out = ok(uclab("firewall", "check", "--runtime", "mininet", "--name", lab, "--json",
                   str(tmp_path / "report.json"), timeout=180))
    assert "verdict: PASS" in out
    report = json.loads((tmp_path / "report.json").read_text())
    flows = {f["id"]: f for f in report["flows"]}
    assert {f"F{i}" for i in range(1, 8)} <= set(flows)
    assert all(f["status"] == "passed" for f in flows.values()), flows
    assert {"fw-outside", "fw-inside"} <= {f["firewall"] for f in flows.values()}
    assert leftovers(lab) == []


def test_kill_9_of_up_then_clean_leaves_nothing() -> None:
    lab = lab_name()
    proc = subprocess.Popen([sys.executable, "-m", "lab", "up", "--runtime", "mininet",
                             "--name", lab], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state_file = RUN_ROOT / lab / "state.json"
    deadline = time.monotonic() + 30
    made = 0
    while time.monotonic() < deadline and made < 4 and proc.poll() is None:
        with contextlib.suppress(OSError, ValueError):  # not written yet, or mid-rename
            made = sum(r["kind"] == "mininet-host" and r["done"]
                       for r in json.loads(state_file.read_text())["records"])
        time.sleep(0.005)
    assert proc.poll() is None, "up finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)  # mid-build: some hosts made, the rest not yet
    proc.wait()
    assert leftovers(lab), "the kill left nothing to clean: it came too late or too early"
    assert json.loads(state_file.read_text())["phase"] == "building"
    clean = ok(uclab("clean"))
    assert f"{lab}: removed" in clean
    assert leftovers(lab) == []


def test_a_taken_name_is_refused_and_left_alone() -> None:
    lab = lab_name()
    subprocess.run(["ip", "netns", "add", f"{lab}-cms"], check=True)
    try:
        up = uclab("up", "--runtime", "mininet", "--name", lab)
        assert up.returncode == 1
        assert f"namespaces {lab}-cms exist already and are not this lab's" in up.stderr
        assert not (RUN_ROOT / lab).exists()
        assert Path(f"/run/netns/{lab}-cms").exists()  # never touched
        assert leftovers(lab) == [f"/run/netns/{lab}-cms"]
    finally:
        subprocess.run(["ip", "netns", "del", f"{lab}-cms"], check=False)
    assert leftovers(lab) == []
