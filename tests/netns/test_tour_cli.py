"""``uclab tour`` in the terminal: every stop printed with what comes next, then the verdict."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.labhelp import lab_name

ROOT = Path(__file__).resolve().parent.parent.parent


def test_tour_goes_through_every_stop_to_pass() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "lab", "tour", "--auto", "--name", lab_name(),
                           "--width", "120"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    for n in range(1, 9):
        assert f"stop {n}: " in out
    assert "step 10 CMS installs a permission" in out
    assert "(RFC 6062 §5.3)" in out
    assert "PASS: all 33 steps" in out
    assert "came before its breakpoint" not in out
