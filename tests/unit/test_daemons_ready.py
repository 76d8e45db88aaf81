"""Waiting for the daemons at ``uclab up``: a wait longer than a moment is told (the CLI
prints it on stderr), and one that never ends names the daemon and its log."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab.base.errors import LabError
from lab.base.state import Record, RunDir
from lab.daemons.supervisor import wait_ready
from lab.kernel import processes


def test_a_long_wait_is_told_then_ends_naming_the_daemon(tmp_path: Path) -> None:
    run = RunDir("t1", tmp_path)
    run.path.mkdir(parents=True)
    (run.path / "logs").mkdir()
    run.log("cms").write_text("waiting for the traversal zone\n")
    me = os.getpid()
    record = Record("process", "daemon:cms", pid=me, start=processes.start_time(me))
    told: list[str] = []
    with pytest.raises(LabError) as info:  # alive, but its control socket never appears
        wait_ready(run, {"cms": record}, 0.3, progress=told.append, progress_after=0.05)
    assert told and told[0].startswith("waiting for the cms daemon(s) to be ready: ")
    assert told[0].endswith("of at most 0.3 s")
    assert "daemon(s) cms not ready within 0.3 s" in str(info.value)
    assert "waiting for the traversal zone" in str(info.value)


def test_no_progress_is_told_without_a_listener(tmp_path: Path) -> None:
    run = RunDir("t2", tmp_path)
    run.path.mkdir(parents=True)
    record = Record("process", "daemon:cms", pid=os.getpid(),
                    start=processes.start_time(os.getpid()))
    with pytest.raises(LabError, match="not ready within"):
        wait_ready(run, {"cms": record}, 0.1, progress_after=0.0)
