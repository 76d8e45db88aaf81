"""Real interrupts of ``uclab run`` and ``uclab up`` (SIGINT as Ctrl-C sends it, SIGKILL) at
several moments, read from the lab's own state record: the lab is left as it was before, or
removed, and the CLI says which; a lab built for a run that was killed is removed by ``clean``."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.base.errors import LabError
from lab.base.names import RUN_ROOT
from lab.lifecycle import teardown
from tests.labhelp import lab_name, lab_namespaces
from tests.nethelp import wait_until

ROOT = Path(__file__).resolve().parent.parent.parent


def uclab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=90, check=False)


def _start(*args: str) -> subprocess.Popen[str]:
    """``uclab ARGS`` with SIGINT handled as in a terminal (a background job ignores it)."""
    return subprocess.Popen([sys.executable, "-m", "lab", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)  # noqa: PLW1509 - no threads here


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _phase(lab: str) -> str | None:
    with contextlib.suppress(OSError, ValueError):
        return str(json.loads((RUN_ROOT / lab / "state.json").read_text())["phase"])
    return None


def _captures(lab: str) -> list[Path]:
    folder = RUN_ROOT / lab / "captures"
    return sorted(folder.glob("*")) if folder.is_dir() else []


def _interrupt(proc: subprocess.Popen[str], when: Callable[[], object], what: str,
               sig: signal.Signals = signal.SIGINT) -> tuple[int, str]:
    try:
        wait_until(when, what, within=60, step=0.005)
    finally:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def _gone(lab: str) -> bool:
    return lab_namespaces(lab) == [] and not (RUN_ROOT / lab).exists()


@pytest.fixture
def lab() -> object:
    name = lab_name()
    yield name
    with contextlib.suppress(LabError):
        teardown.down(name)


def test_ctrl_c_while_building_rolls_back_and_says_so(lab: str) -> None:
    proc = _start("up", "--name", lab)
    code, err = _interrupt(proc, lambda: lab_namespaces(lab), "the first namespace")
    assert code == 130, err
    assert err.strip().endswith(f"uclab: interrupted: lab {lab} was rolled back (nothing of it "
                                "is left)"), err
    assert "WARNING" not in err and "rolling back" not in err, err  # no raw log line
    assert _gone(lab), (err, lab_namespaces(lab), _phase(lab))


def test_ctrl_c_in_a_run_that_built_its_lab(lab: str) -> None:
    for moment, when in (("building", lambda: lab_namespaces(lab)),
                         ("up", lambda: _phase(lab) == "up")):
        proc = _start("run", "screen-share", "--name", lab)
        code, err = _interrupt(proc, when, moment)
        assert code == 130, err
        assert f"uclab: interrupted: lab {lab}, built for this run, was removed" in err, err
        assert _gone(lab), moment


def test_ctrl_c_in_a_run_on_a_lab_that_is_up(lab: str) -> None:
    """The lab is as it was: its daemons alive (status and the daemons table agree), no
    partial capture left in the run folder."""
    assert uclab("up", "--name", lab).returncode == 0
    for moment, delay in (("captures started", 0.0), ("in the call", 0.4)):
        proc = _start("run", "screen-share", "--name", lab)
        wait_until(lambda: _captures(lab), moment, within=60, step=0.005)
        time.sleep(delay)
        code, err = _interrupt(proc, lambda: True, moment)
        assert code == 130, err
        assert f"interrupted: lab {lab} is as it was before the run" in err, err
        st = uclab("status", "--name", lab, "--json")
        assert st.returncode == 0, st.stdout
        status = json.loads(st.stdout)
        assert status["phase"] == "up"
        assert [d["alive"] for d in status["daemons"]] == [True] * 5
        assert _captures(lab) == []


def test_kill_9_of_a_run_leaves_a_lab_that_clean_removes(lab: str) -> None:
    proc = _start("run", "screen-share", "--name", lab)
    code, _ = _interrupt(proc, lambda: _phase(lab) == "up", "the lab up", signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert not _gone(lab)
    status = uclab("status", "--name", lab)
    said = " ".join(status.stdout.split())  # as wrapped for the terminal
    assert status.returncode == 1 and "built for uclab run pid" in said
    assert f"which is gone: `uclab clean --name {lab}` removes it" in said
    dry = uclab("clean", "--name", lab, "--dry-run")
    assert dry.returncode == 0 and "would remove it (built for uclab run pid" in dry.stdout
    assert not _gone(lab)
    other = lab_name()  # another lab up on the same machine is left alone
    assert uclab("up", "--name", other, "--no-daemons").returncode == 0
    try:
        done = uclab("clean", "--name", lab)
        assert done.returncode == 0 and f"{lab}: removed" in done.stdout, done.stdout
        assert _gone(lab) and not _gone(other)
    finally:
        uclab("down", "--name", other)


def test_graph_and_clean_of_one_lab_by_name(lab: str) -> None:
    """``graph --name`` draws the lab's topology; ``clean --name`` looks at that lab only."""
    assert uclab("up", "--name", lab, "--no-daemons").returncode == 0
    graph = uclab("graph", "--name", lab)
    assert graph.returncode == 0 and graph.stdout.startswith("sfb-cms-expressway")
    left = uclab("clean", "--name", lab, "--dry-run")
    assert left.returncode == 0 and left.stdout.strip() == (
        f"{lab}: left: it is up (uclab down --name {lab})")
    gone = uclab("clean", "--name", "nolab11x")
    assert gone.stdout.strip() == "nothing to clean: lab nolab11x has no run folder under " \
        "/run/uclab"


def _daemon_records(lab: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        records = json.loads((RUN_ROOT / lab / "state.json").read_text())["records"]
        return sum(1 for r in records if r["name"].startswith("daemon:"))
    return -1


def test_status_and_the_daemons_table_agree_after_a_run_killed_mid_restart(lab: str) -> None:
    """kill -9 of a run on a lab that is up, once it has stopped the daemons and before it
    started them again: status is not healthy (exit 1), and says so daemon by daemon, as it
    does for a daemon killed with kill -9."""
    assert uclab("up", "--name", lab).returncode == 0
    proc = _start("run", "screen-share", "--name", lab)
    code, _ = _interrupt(proc, lambda: _daemon_records(lab) == 0, "daemons stopped",
                         signal.SIGKILL)
    assert code == -signal.SIGKILL
    st = uclab("status", "--name", lab, "--json")
    assert st.returncode == 1
    daemons = json.loads(st.stdout)["daemons"]
    assert [d["node"] for d in daemons] == ["sfb-client", "sfb-edge", "expressway-e",
                                            "expressway-c", "cms"]
    assert not any(d["alive"] for d in daemons)
    text = uclab("status", "--name", lab)
    assert text.returncode == 1 and text.stdout.count("DEAD") == 5
