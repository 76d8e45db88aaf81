"""What Kubernetes would start, started here: each pod spec of deploy/kubernetes turned into
the equivalent ``docker run`` (tests/podrun.py: image, command, environment, capabilities,
security options, limits, volumes) and run by the real Docker engine with the uclab image.

* the CI farm's shard pod, as completion index 1 of 4: shard 2/4 of the library runs in the
  pod's context and limits and leaves its JUnit and JSON on the results volume;
* the merge pod, on that volume: refuses the incomplete set, then merges a full one;
* a classroom seat pod: `uclab serve` answers on its port with the seat's token from the
  Secret, and refuses another token.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from junitparser import JUnitXml

from lab import scenario
from lab.cli.scenario_view import Outcome, junit
from lab.scenario.shard import Shard
from tests import podhelp
from tests.deployhelp import find, rendered
from tests.kustomize import pod_spec
from tests.podrun import DockerRun

pytestmark = pytest.mark.skipif((why := podhelp.missing()) is not None, reason=why or "")


def _pod(root: str, kind: str, name: str) -> dict[str, object]:
    spec = pod_spec(find(rendered(root), kind, name))
    assert spec is not None
    return spec


def _shard_pod(results: Path, index: int) -> tuple[DockerRun, str]:
    name = podhelp.container_name("h16ci")
    run = DockerRun(_pod("ci-farm/shards", "Job", "uclab-shards"), "shard", name=name,
                    pod_name=f"uclab-shards-{index}", env={"JOB_COMPLETION_INDEX": str(index)},
                    volumes={"results": results}, labels=podhelp.labels())
    return run, name


def test_the_ci_shard_pod_runs_its_shard_and_leaves_its_junit(tmp_path: Path) -> None:
    run, name = _shard_pod(tmp_path, 1)
    argv = run.argv(podhelp.IMAGE, extra=podhelp.CHECKOUT)
    assert "--cap-drop=ALL" in argv and "--network=none" in argv and "--read-only" in argv
    with podhelp.removed_after(name):
        proc = podhelp.run(argv, timeout=400)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert run.not_reproduced == [
        "hostUsers: false (Docker's user namespaces are engine-wide: the container's root is "
        "the host's here)"]
    mine = Shard(2, 4).select(scenario.names())
    [suite] = JUnitXml.fromfile(str(tmp_path / "shard-2.xml"))
    assert [c.name for c in suite] == mine
    assert all(c.is_passed for c in suite)
    rows = json.loads((tmp_path / "shard-2.json").read_text())
    assert [r["scenario"] for r in rows] == mine and all(r["passed"] for r in rows)
    assert f"shard 2/4: {len(mine)} of {len(scenario.names())} scenarios" in proc.stdout


def _merge_pod(results: Path) -> tuple[list[str], str]:
    name = podhelp.container_name("h16merge")
    run = DockerRun(_pod("ci-farm/merge", "Job", "uclab-merge"), "merge", name=name,
                    pod_name="uclab-merge", volumes={"results": results},
                    labels=podhelp.labels())
    extra = podhelp.CHECKOUT + podhelp.new_dependencies()
    return run.argv(podhelp.IMAGE, extra=extra), name


def test_the_merge_pod_refuses_a_missing_shard_and_merges_a_full_set(tmp_path: Path) -> None:
    names = scenario.names()
    made = {k: Shard(k, 4).select(names) for k in range(1, 5)}
    (tmp_path / "shard-2.xml").write_text(junit([Outcome(scenario.load(n)) for n in made[2]],
                                                Shard(2, 4)))
    argv, name = _merge_pod(tmp_path)
    with podhelp.removed_after(name):
        proc = podhelp.run(argv, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "shards 1/4, 3/4, 4/4 missing" in proc.stderr
    for k in (1, 3, 4):
        (tmp_path / f"shard-{k}.xml").write_text(
            junit([Outcome(scenario.load(n)) for n in made[k]], Shard(k, 4)))
    argv, name = _merge_pod(tmp_path)
    with podhelp.removed_after(name):
        proc = podhelp.run(argv, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # those outcomes never ran: failures
    merged = JUnitXml.fromfile(str(tmp_path / "merged.xml"))
    assert sorted(c.name for s in merged for c in s) == names


def _serve_takes_a_token_file() -> bool:
    proc = podhelp.docker("run", "--rm", "--network=none", *podhelp.CHECKOUT,
                             *podhelp.new_dependencies(), podhelp.IMAGE, "serve", "--help")
    return proc.returncode == 0 and "--token-file" in proc.stdout


@pytest.mark.skipif(not _serve_takes_a_token_file(),
                    reason="`uclab serve` of this checkout takes no --token-file (the seat's "
                    "token from the Secret): the seat pod cannot start as written")
def test_a_seat_pod_answers_on_its_port_with_its_token(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    (tokens / "uclab-seat-0").write_text("seat0-token-from-the-secret-0123")
    (tokens / "uclab-seat-1").write_text("seat1-token-from-the-secret-4567")
    name = podhelp.container_name("h16seat")
    run = DockerRun(_pod("classroom/example", "StatefulSet", "uclab-seat"), "serve", name=name,
                    pod_name="uclab-seat-0", volumes={"tokens": tokens},
                    labels=podhelp.labels())
    argv = run.argv(podhelp.IMAGE, extra=podhelp.CHECKOUT + podhelp.new_dependencies())
    argv.insert(2, "--detach")
    argv.remove("--rm")
    with podhelp.removed_after(name):
        proc = podhelp.run(argv, timeout=60)
        assert proc.returncode == 0, proc.stderr
        status = _status(name, "seat0-token-from-the-secret-0123")
        assert status == "200", podhelp.docker("logs", name).stderr[-3000:]
        assert _status(name, "seat1-token-from-the-secret-4567") in ("401", "403")
        stop = podhelp.docker("stop", "--time=30", name, timeout=60)
        assert stop.returncode == 0
        logs = podhelp.docker("logs", name).stdout
        assert "uclab serve on http://0.0.0.0:8080" in logs, logs


def _status(name: str, token: str) -> str:
    """The HTTP status of seat 1's page, asked from inside the pod (its loopback)."""
    code = ("import sys, urllib.request, urllib.error\n"
            f"u = 'http://127.0.0.1:8080/seat/1?token={token}'\n"
            "try:\n print(urllib.request.urlopen(u, timeout=5).status)\n"
            "except urllib.error.HTTPError as e:\n print(e.code)\n"
            "except OSError:\n print('down')\n")
    for _ in range(60):  # the startup probe's bound: 30 x 2 s
        proc = podhelp.docker("exec", name, "/opt/uclab/.venv/bin/python", "-c", code)
        status = proc.stdout.strip()
        if status not in ("", "down"):
            return status
        time.sleep(1)
    return "down"
