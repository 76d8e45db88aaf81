"""compose.yaml: a class of 3 seats on this Docker host with Debian's docker-compose. Each seat
runs the screen share through `uclab serve`'s API with its own token and passes; a seat's token
is refused on another seat; stopping the class takes the seats' labs down.

The checkout's code (and any Python dependency the image predates) is mounted over the image's
by an override file, so that the class runs the code under test."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests import podhelp
from tests.deployhelp import ROOT

SEATS = 3
why = podhelp.missing()
if why is None and shutil.which("docker-compose") is None:
    why = "docker-compose is not installed (./setup installs Debian's docker-compose)"
if why is None and not (ROOT / "lab" / "web" / "server.py").exists():
    why = "`uclab serve` (lab/web) is not in this checkout"
pytestmark = pytest.mark.skipif(why is not None, reason=why or "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _compose(project: str, files: list[Path], *args: str, env: dict[str, str],
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    argv = ["docker-compose", "-p", project]
    for f in files:
        argv += ["-f", str(f)]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env}, check=False)


@pytest.fixture
def compose_class(tmp_path: Path) -> Iterator[tuple[int, dict[int, str]]]:
    """The class up (3 seats) on a free loopback port, and its seats' tokens; afterwards it is
    stopped (SIGTERM: serve takes its labs down) and removed, network and all."""
    override = tmp_path / "override.yaml"
    mounts = [m.removeprefix("--volume=") for m in
              podhelp.CHECKOUT + podhelp.new_dependencies()]
    override.write_text(yaml.safe_dump({"services": {"class": {
        "volumes": mounts, "labels": podhelp.labels()}}}))
    out = tmp_path / "out"
    out.mkdir()
    port = _free_port()
    project = podhelp.container_name("h16class").replace("-", "")
    env = {"UCLAB_SEATS": str(SEATS), "UCLAB_PORT": str(port), "UCLAB_OUT": str(out),
           "UCLAB_IMAGE": podhelp.IMAGE}
    files = [ROOT / "compose.yaml", override]
    try:
        up = _compose(project, files, "up", "-d", env=env)
        assert up.returncode == 0, up.stderr
        yield port, _tokens(out / "seats.txt")
        stop = _compose(project, files, "stop", "--timeout", "30", env=env)
        assert stop.returncode == 0, stop.stderr
    finally:
        _compose(project, files, "down", "--timeout", "30", env=env)


def _tokens(path: Path) -> dict[int, str]:
    for _ in range(60):
        if path.exists() and path.read_text().count("\n") >= SEATS + 1:
            break
        time.sleep(1)
    lines = path.read_text().splitlines()
    return {int(ln.split()[1]): ln.rsplit("token=", 1)[1]
            for ln in lines if ln.startswith("seat ")}


def _call(port: int, path: str, token: str, body: dict[str, object] | None = None
          ) -> tuple[int, dict[str, object]]:
    url = f"http://127.0.0.1:{port}{path}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + ("" if data else f"?token={token}"), data=data,
                                 headers={"X-Uclab-Token": token,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def test_three_seats_each_share_passes_and_tokens_isolate_them(
        compose_class: tuple[int, dict[int, str]]) -> None:
    port, tokens = compose_class
    assert sorted(tokens) == [1, 2, 3] and len(set(tokens.values())) == SEATS
    for n, token in tokens.items():
        code, _ = _call(port, f"/api/seat/{n}/run", token, {"scenario": "screen-share"})
        assert code == 202, n
    other = {1: 2, 2: 3, 3: 1}
    for n, token in tokens.items():  # a seat's token opens no other seat
        assert _call(port, f"/api/seat/{other[n]}/state", token)[0] == 403
        assert _call(port, f"/api/seat/{other[n]}/run", token, {})[0] == 403
    reports: dict[int, dict[str, object]] = {}
    deadline = time.monotonic() + 180
    while len(reports) < SEATS and time.monotonic() < deadline:
        for n, token in tokens.items():
            code, state = _call(port, f"/api/seat/{n}/state", token)
            report = state.get("report") if code == 200 else None
            if isinstance(report, dict):
                reports[n] = report
        time.sleep(2)
    assert sorted(reports) == [1, 2, 3], "not every seat's share ended in 180 s"
    for n, report in reports.items():
        assert report["passed"] is True, (n, report.get("unmet"), report.get("diagnosis"))
        assert report["scenario"] == "screen-share"
