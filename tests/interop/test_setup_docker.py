"""./setup and the Docker engine: an engine that answers is left alone (never a second
dockerd, never a restart)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def dockerd_pids() -> list[str]:
    return subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True,
                          check=False).stdout.split()


def test_an_engine_that_answers_is_left_alone() -> None:
    before = dockerd_pids()
    assert before, "./setup starts dockerd: it should be running here"
    proc = subprocess.run([str(ROOT / "setup"), "--step", "docker"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "setup: Docker engine answers"
    assert dockerd_pids() == before
    assert subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                          capture_output=True, check=False).returncode == 0


def test_a_step_it_does_not_know_is_refused() -> None:
    proc = subprocess.run([str(ROOT / "setup"), "--step", "dockerd"], capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 2
    assert "--step takes packages, deps, project, docker or all, not dockerd" in proc.stderr
