"""What the CLI prints survives an 80-column terminal and a CI log (no address cut), every
file-writing option says where it wrote, and a long wait is told while it lasts."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import topology
from lab.base.errors import LabError
from lab.lifecycle import teardown
from tests.labhelp import lab_name

ROOT = Path(__file__).resolve().parent.parent.parent


def uclab(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False, env=env)


@pytest.fixture
def lab() -> Iterator[str]:
    name = lab_name()
    yield name
    with contextlib.suppress(LabError):
        teardown.down(name)


def _addresses() -> list[str]:
    return [str(i.address) for n in topology.load().nodes for i in n.interfaces
            if i.address is not None]


def test_up_and_status_fit_80_columns_and_cut_no_address(lab: str) -> None:
    up = uclab("up", "--name", lab)
    assert up.returncode == 0, up.stderr
    status = uclab("status", "--name", lab)
    assert status.returncode == 0, status.stdout
    for out in (up.stdout, status.stdout):
        lines = out.splitlines()
        assert max(len(line) for line in lines) <= 80
        assert "…" not in out
    for address in _addresses():
        assert address in up.stdout and address in status.stdout
    for node in ("sfb-client", "sfb-edge", "expressway-e", "expressway-c", "cms"):
        assert f"daemon:{node}" in status.stdout


def test_a_long_wait_is_told_and_every_file_written_is_named(lab: str, tmp_path: Path) -> None:
    """A cut link: the run waits 3 s for media that never comes, and says so while it waits."""
    svg, html, junit = tmp_path / "l.svg", tmp_path / "l.html", tmp_path / "j.xml"
    run = uclab("run", "internet-link-cut-after-answer", "--name", lab, "--svg", str(svg),
                "--html", str(html), "--junit", str(junit))
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"\.\.\. waiting for media-received on sfb-client: 2 of at most 3 s",
                     run.stderr), run.stderr
    for path in (svg, html, junit):
        assert path.is_file()
        assert re.search(rf"^wrote .+: {re.escape(str(path))}$", run.stdout, re.M), run.stdout
