"""``uclab serve`` as a process: it refuses what it must, and SIGTERM (like Ctrl-C) removes the
labs it built, a lab brought up from the page and one built by a call still running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from lab.base.state import RunDir
from tests.labhelp import lab_name
from tests.webhelp import free_port

ROOT = Path(__file__).resolve().parent.parent.parent


def _serve(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "lab", "serve", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _urls(proc: subprocess.Popen[str], count: int) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while len(lines) < count and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "?token=" in line and line.startswith("seat"):
            lines.append(line.split(": ", 1)[1].strip())
    return lines


def _post(url: str, path: str, body: dict[str, object]) -> int:
    base, _, token = url.partition("/seat/")
    seat, _, token = token.partition("?token=")
    req = urllib.request.Request(f"{base}/api/seat/{seat}/{path}", data=json.dumps(body).encode(),
                                 headers={"X-Uclab-Token": token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(r.status)


def test_serve_refuses_an_open_address_without_seats() -> None:
    proc = _serve("--listen", f"0.0.0.0:{free_port()}")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "needs seats" in out and "--seats" in out


def test_sigterm_removes_the_labs_serve_built() -> None:
    name = lab_name()
    proc = _serve("--listen", f"127.0.0.1:{free_port()}", "--seats", "2", "--name", name)
    try:
        one, two = _urls(proc, 2)
        assert _post(one, "up", {}) == 202
        deadline = time.monotonic() + 60
        while not (RunDir(f"{name}1").path / "state.json").exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert _post(two, "run", {"scenario": "screen-share"}) == 202
        time.sleep(1.0)  # the second seat's call is being built or running
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "removed lab(s)" in out
    for lab in (f"{name}1", f"{name}2", f"{name}1f", f"{name}2f"):
        assert not RunDir(lab).path.exists(), out
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            check=True).stdout
    assert f"{name}1-" not in listed and f"{name}2-" not in listed


def test_serve_refuses_a_lab_that_exists(tmp_path: Path) -> None:
    name = lab_name()
    run = RunDir(name).path
    run.mkdir(parents=True)
    try:
        proc = _serve("--listen", f"127.0.0.1:{free_port()}", "--name", name)
        out, _ = proc.communicate(timeout=30)
    finally:
        run.rmdir()
    assert proc.returncode == 2
    assert f"lab {name} exists already" in out
