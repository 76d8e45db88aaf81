"""Up, down, rollback, crashes, two labs side by side, policies: nothing is ever left behind."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import topology
from lab.base.errors import InputError, LabError
from lab.base.names import RUN_ROOT
from lab.kernel import processes
from lab.lifecycle import build, teardown
from lab.lifecycle.context import BuildContext, Step, start_process
from tests.labhelp import accepted_peer, connect, lab_name, lab_namespaces, listen, running_lab
from tests.nethelp import wait_until

ROOT = Path(__file__).resolve().parent.parent.parent


def uclab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False)


def assert_gone(lab: str) -> None:
    assert lab_namespaces(lab) == []
    assert not (RUN_ROOT / lab).exists()


def test_two_labs_side_by_side() -> None:
    with running_lab() as a, running_lab() as b:
        for ctx in (a, b):
            with listen(ctx, "sfb-edge", "10.149.4.10", 443) as srv:
                connect(ctx, "sfb-client", ("10.149.4.10", 443), src=("192.168.251.128", 17676))
                assert accepted_peer(srv) == ("10.149.4.201", 65417)
        removed = teardown.down(a.lab)
        assert len(removed.namespaces) == 8
        assert_gone(a.lab)
        # b is untouched by a's removal
        with listen(b, "cms", "10.48.54.230", 5061) as srv:
            connect(b, "expressway-c", ("10.48.54.230", 5061))
            accepted_peer(srv)
    assert_gone(b.lab)


def test_failure_half_way_rolls_back_everything() -> None:
    lab = lab_name()
    started: list[processes.ProcessId] = []

    def sleeper_then_fail(ctx: BuildContext) -> None:
        record = start_process(ctx, "cms", "sleeper", ["sleep", "30"])
        assert record.pid is not None and record.start is not None
        started.append(processes.ProcessId(record.pid, record.start))
        assert processes.alive(started[0])
        assert len(lab_namespaces(lab)) == 8
        raise LabError("injected failure")

    with pytest.raises(LabError, match="injected failure"):
        build.up(topology.load(), lab,
                 steps=[*build.NETWORK_STEPS, Step("fail", sleeper_then_fail)])
    assert not processes.alive(started[0])
    assert_gone(lab)


CRASHING_UP = """
import sys, time
from pathlib import Path
from lab import topology
from lab.lifecycle import build
from lab.lifecycle.context import Step, start_process
lab, flag = sys.argv[1], Path(sys.argv[2])
def stall(ctx):
    start_process(ctx, "cms", "sleeper", ["sleep", "60"])
    flag.write_text("ready")
    time.sleep(60)
build.up(topology.load(), lab, steps=[*build.NETWORK_STEPS, Step("stall", stall)])
"""


def _down_if_left(lab: str) -> None:
    """After a test that failed before its own down: remove what it left (by its records)."""
    with contextlib.suppress(LabError):
        teardown.down(lab)


@contextlib.contextmanager
def _crash_mid_up(tmp_path: Path) -> Iterator[tuple[str, int, int]]:
    """Start an ``up`` that stalls after starting a process, kill -9 it; (lab, that pid). The
    lab is removed at the end whatever the test found."""
    lab = lab_name()
    flag = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_UP, lab, str(flag)], cwd=ROOT)
    try:
        try:
            wait_until(lambda: flag.exists() or proc.poll() is not None,
                       "the stalled up becomes ready", within=15)
            assert proc.poll() is None, "the stalled up died by itself"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        state = json.loads((RUN_ROOT / lab / "state.json").read_text())
        assert state["phase"] == "building"
        sleeper = next(r for r in state["records"] if r["kind"] == "process")
        assert len(lab_namespaces(lab)) == 8
        yield lab, int(sleeper["pid"]), int(sleeper["start"])
    finally:
        _down_if_left(lab)


def test_kill_9_mid_up_then_down_leaves_nothing(tmp_path: Path) -> None:
    with _crash_mid_up(tmp_path) as (lab, pid, start):
        _down_after_crash(lab, pid, start)


def _down_after_crash(lab: str, pid: int, start: int) -> None:
    # a process nobody recorded, started by hand inside the lab: found by namespace inode
    ns = f"{lab}-expressway-c"
    stray = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "60"])
    try:
        wait_until(lambda: stray.pid in processes.pids_in_netns(ns),
                   "the stray process is in the namespace", within=5)
        result = uclab("down", "--name", lab, "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert len(report["namespaces"]) == 8
        assert pid in report["processes"] and stray.pid in report["processes"]
        assert stray.wait(timeout=5) != 0
    finally:
        if stray.poll() is None:
            stray.kill()
    assert not processes.alive(processes.ProcessId(pid, start))
    assert_gone(lab)


def test_kill_9_mid_up_then_clean_leaves_nothing(tmp_path: Path) -> None:
    with _crash_mid_up(tmp_path) as (lab, _, _), running_lab() as healthy:
        result = uclab("clean", "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert len(report[lab]["namespaces"]) == 8
        assert report[healthy.lab].startswith("left: it is up")
        assert_gone(lab)
        assert len(lab_namespaces(healthy.lab)) == 8


def test_kill_9_at_any_moment_of_up(tmp_path: Path) -> None:
    """Killed while the namespaces are being made: down still finds everything."""
    lab = lab_name()
    proc = subprocess.Popen([sys.executable, "-m", "lab", "up", "--name", lab], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = RUN_ROOT / lab / "state.json"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads(state.read_text())["records"][2:]:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:
        result = uclab("down", "--name", lab)
        assert result.returncode == 0, result.stderr
    finally:
        _down_if_left(lab)
    assert_gone(lab)


def test_a_namespace_that_is_not_ours_is_never_taken_over() -> None:
    lab = lab_name()
    foreign = f"{lab}-cms"
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    try:
        with pytest.raises(LabError, match="exist already"):
            build.up(topology.load(), lab)
        assert lab_namespaces(lab) == [foreign]
        assert not (RUN_ROOT / lab).exists()
    finally:
        subprocess.run(["ip", "netns", "del", foreign], check=True)


def test_cli_up_status_exec_down(tmp_path: Path) -> None:
    lab = lab_name()
    result = uclab("up", "--name", lab, "--json")
    try:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["namespaces"]["cms"] == f"{lab}-cms"
        again = uclab("up", "--name", lab)
        assert again.returncode == 1 and "exists already" in again.stderr
        status = uclab("status", "--name", lab, "--json")
        assert status.returncode == 0, status.stderr
        nodes = {n["name"]: n for n in json.loads(status.stdout)["nodes"]}
        eth0 = next(i for i in nodes["cms"]["interfaces"] if i["name"] == "eth0")
        assert eth0["addresses"] == ["10.48.54.230/24"]
        assert [r["via"] for r in nodes["sfb-client"]["routes"] if r["via"]] == ["192.168.251.1"]
        assert any(r["comment"].startswith("F5 ") for r in nodes["fw-inside"]["rules"])
        out = uclab("exec", "--name", lab, "expressway-e", "--", "ip", "-4", "-o", "addr")
        assert out.returncode == 0 and "192.168.1.229/24" in out.stdout
        assert uclab("exec", "--name", lab, "cms", "--", "sh", "-c", "exit 3").returncode == 3
        bad = uclab("exec", "--name", lab, "cmz", "--", "true")
        assert bad.returncode == 2 and "use one of" in bad.stderr
    finally:
        down = uclab("down", "--name", lab)
    assert down.returncode == 0, down.stderr
    assert "8 namespaces" in down.stdout
    assert_gone(lab)
    gone = uclab("status", "--name", lab)
    assert gone.returncode == 1 and "no lab named" in gone.stderr


def test_a_policy_nft_rejects_is_bad_input_and_nothing_is_built(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nft"
    bad.write_text("table inet filter {\n  chain forward {\n"
                   "    type filter hook forward priority filter; policy drop;\n"
                   "    tcp dport 5061 acept\n  }\n}\n")
    lab = lab_name()
    result = uclab("up", "--name", lab, "--policy", f"fw-outside={bad}")
    assert result.returncode == 2
    assert f"{bad}:4:" in result.stderr and "Error:" in result.stderr  # nft's own words
    assert "fix:" in result.stderr
    assert_gone(lab)
    with pytest.raises(InputError) as info:
        build.up(topology.load(), lab, policies={"fw-outside": bad})
    assert info.value.line == 4 and info.value.path == bad
    assert_gone(lab)


def test_policy_replaces_the_baseline(tmp_path: Path) -> None:
    open_policy = tmp_path / "open.nft"
    open_policy.write_text("table inet filter {\n  chain forward {\n"
                           "    type filter hook forward priority filter; policy accept;\n"
                           "    counter accept comment \"anything\"\n  }\n}\n")
    with running_lab(policies={"fw-outside": open_policy}) as ctx:
        with listen(ctx, "expressway-e", "192.168.1.229", 3478) as srv:  # baseline drops it
            connect(ctx, "sfb-edge", ("192.168.1.229", 3478))
            accepted_peer(srv)
        assert ctx.state.policies["fw-outside"] == str(open_policy)
    with pytest.raises(InputError, match="not a firewall"):
        build.up(topology.load(), lab_name(), policies={"cms": open_policy})


def test_spawned_processes_live_in_their_namespace(tmp_path: Path) -> None:
    def probe(ctx: BuildContext) -> None:
        start_process(ctx, "cms", "probe", ["sh", "-c", "ip -4 -o addr; sleep 30"])

    with running_lab(steps=[*build.NETWORK_STEPS, Step("probe", probe)]) as ctx:
        record = next(r for r in ctx.state.records if r.kind == "process")
        assert record.pid in processes.pids_in_netns(ctx.ns("cms"))
        log = ctx.run.log("cms")
        deadline = time.monotonic() + 5
        while "10.48.54.230" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the process did not write its addresses"
            time.sleep(0.02)
        assert record.pid is not None and record.start is not None
        proc = processes.ProcessId(record.pid, record.start)
        assert processes.alive(proc)
    assert not processes.alive(proc)


def test_up_takes_an_iptables_save_policy_like_firewall_check() -> None:
    """`uclab up --policy` reads policies as scenarios and `firewall check` do: an
    iptables-save file is restored by iptables-nft, and its rules decide (here a policy that
    allows Expressway-C -> CMS 5061 but not 5060)."""
    policy = ROOT / "tests" / "data" / "policies" / "inside-correct.iptables"
    lab = lab_name()
    result = uclab("up", "--name", lab, "--no-daemons", "--policy", f"fw-inside={policy}")
    try:
        assert result.returncode == 0, result.stderr
        saved = subprocess.run(["ip", "netns", "exec", f"{lab}-fw-inside", "iptables-nft-save"],
                               capture_output=True, text=True, check=True).stdout
        assert "--dport 5061 -m conntrack --ctstate NEW -j ACCEPT" in saved
        status = json.loads(uclab("status", "--name", lab, "--json").stdout)
        assert status["policies"]["fw-inside"] == str(policy)
    finally:
        uclab("down", "--name", lab)
    assert_gone(lab)
    bad = uclab("up", "--name", lab, "--policy", "fw-inside=" + str(
        ROOT / "tests" / "data" / "policies" / "inside-correct.expect.yaml"))
    assert bad.returncode == 2 and "rejects this policy" in bad.stderr
    assert_gone(lab)
