"""tests/podrun.py: a pod spec's container as ``docker run`` arguments (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deployhelp import find, rendered
from tests.kustomize import pod_spec
from tests.podrun import DockerRun, expand


def _shard_spec() -> dict[str, object]:
    spec = pod_spec(find(rendered("ci-farm/shards"), "Job", "uclab-shards"))
    assert spec is not None
    return spec


def test_the_shard_pod_as_docker_run(tmp_path: Path) -> None:
    run = DockerRun(_shard_spec(), "shard", name="n", pod_name="uclab-shards-1",
                    env={"JOB_COMPLETION_INDEX": "1"}, volumes={"results": tmp_path})
    argv = run.argv("uclab:runtime")
    assert argv[:6] == ["docker", "run", "--rm", "--name=n", "--network=none",
                        "--hostname=uclab-shards-1"]
    for flag in ("--env=JOB_COMPLETION_INDEX=1", "--env=SHARDS=4", "--cap-drop=ALL",
                 "--cap-add=NET_ADMIN", "--cap-add=SYS_ADMIN", "--cap-add=NET_RAW",
                 "--cap-add=NET_BIND_SERVICE", "--cap-add=SETGID",
                 "--security-opt=apparmor=unconfined", "--security-opt=systempaths=unconfined",
                 "--read-only", "--user=0:0", "--cpus=2.0", "--memory=512m", "--tmpfs=/run",
                 "--tmpfs=/tmp", f"--volume={tmp_path}:/results", "--entrypoint=sh"):
        assert flag in argv, flag
    assert "--security-opt=seccomp=unconfined" not in argv  # RuntimeDefault: Docker's default
    i = argv.index("uclab:runtime")
    assert argv[i + 1] == "-c" and "uclab run --all --shard" in argv[i + 2]
    assert run.not_reproduced and run.not_reproduced[0].startswith("hostUsers: false")


def test_the_seat_pod_expands_its_pod_name() -> None:
    spec = pod_spec(find(rendered("classroom/example"), "StatefulSet", "uclab-seat"))
    assert spec is not None
    run = DockerRun(spec, "serve", name="s", pod_name="uclab-seat-2",
                    volumes={"tokens": Path("/tok")})
    argv = run.argv("img")
    assert "/var/run/uclab-tokens/uclab-seat-2" in argv
    assert "--volume=/tok:/var/run/uclab-tokens:ro" in argv
    assert argv[argv.index("img") + 1] == "serve"


def test_expansion_follows_kubernetes() -> None:
    assert expand("a/$(X)/$(Y)", {"X": "1"}) == "a/1/$(Y)"


def test_a_field_it_cannot_translate_is_an_error() -> None:
    spec = _shard_spec()
    containers = spec["containers"]
    assert isinstance(containers, list)
    containers[0]["securityContext"]["privileged"] = True
    with pytest.raises(ValueError, match=r"securityContext: .*\['privileged'\]"):
        DockerRun(spec, "shard", name="n", pod_name="p").argv("img")
    containers[0]["securityContext"].pop("privileged")
    containers[0]["stdin"] = True
    with pytest.raises(ValueError, match=r"container shard: .*\['stdin'\]"):
        DockerRun(spec, "shard", name="n", pod_name="p").argv("img")
