"""The uclab image against the real engine: built without a registry (debootstrap base, the
host's CA bundle or a wheelhouse), ``docker run IMAGE run screen-share`` prints the ladder and
exits with the run's code, the capture handed out through a volume, and a container that lacks
a capability or security option is told which one."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lab.runtime import image
from tests.dockerhelp import LAB_FLAGS, TEST_LABEL, docker, uclab_image
from tests.labhelp import lab_name

ROOT = Path(__file__).resolve().parent.parent.parent
# the first test of a clean machine builds the image (debootstrap, apt, pip: minutes)
pytestmark = pytest.mark.timeout(900)


def run_image(*args: str, flags: list[str] | None = None, timeout: float = 180
              ) -> subprocess.CompletedProcess[str]:
    name = f"uclab-test-{lab_name()}"
    return docker("run", "--rm", "--name", name, "--label", f"{TEST_LABEL}={name}",
                  *(LAB_FLAGS if flags is None else flags), *args, timeout=timeout)


def test_the_image_runs_the_share_and_hands_out_the_capture(tmp_path: Path) -> None:
    proc = run_image("-v", f"{tmp_path}:/out", uclab_image(), "run", "screen-share",
                     "--media-seconds", "0.3", "--pcap", "/out/share.pcapng", "--width", "120")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "PASS: all 33 steps of flow.md §3 seen in order" in proc.stdout
    assert "scenario screen-share: expectations hold (verdict pass)" in proc.stdout
    pcap = tmp_path / "share.pcapng"
    assert pcap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # a pcapng section header block
    tshark = subprocess.run(["tshark", "-r", str(pcap), "-q", "-z", "io,phs"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert tshark.returncode == 0 and "tcp" in tshark.stdout


def test_the_exit_code_is_the_runs(tmp_path: Path) -> None:
    proc = run_image(uclab_image(), "run", "screen-share", "--media-seconds", "0.3",
                     "--fault", "stop: {node: cms, at: 'cms:invite'}")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "expectations do not hold" in proc.stdout or "FAIL" in proc.stdout


def _without(*drop: str) -> list[str]:
    flags = list(LAB_FLAGS)
    for d in drop:
        i = flags.index(d)
        del flags[i - 1:i + 1]
    return flags


@pytest.mark.parametrize(("drop", "named", "raw"), [
    ("SYS_ADMIN", "--cap-add SYS_ADMIN", "Operation not permitted"),
    ("NET_ADMIN", "--cap-add NET_ADMIN", "cache initialization failed"),
    ("systempaths=unconfined", "--security-opt systempaths=unconfined", "Read-only file system"),
])
def test_a_missing_capability_or_option_is_named(drop: str, named: str, raw: str) -> None:
    proc = run_image(uclab_image(), "run", "screen-share", flags=_without(drop))
    assert proc.returncode != 0
    assert "this container cannot build a lab" in proc.stderr, proc.stderr[-2000:]
    assert named in proc.stderr
    assert raw not in proc.stderr + proc.stdout


def test_the_image_is_made_from_the_debootstrap_base_without_a_registry() -> None:
    def layers(ref: str) -> list[str]:
        out = docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref)
        assert out.returncode == 0, out.stderr
        result: list[str] = json.loads(out.stdout)
        return result

    tag = uclab_image()
    base = layers(image.BASE_TAG)
    assert layers(tag)[:len(base)] == base
    release = docker("run", "--rm", "--network", "none", "--entrypoint", "cat", tag,
                     "/etc/os-release")
    assert "bookworm" in release.stdout
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}",
                               tag).stdout)
    assert tag.endswith(labels[image.LABEL])


@pytest.mark.slow
def test_a_wheelhouse_builds_the_image_with_no_extra_ca(tmp_path: Path) -> None:
    """The offline path: wheels downloaded beforehand, pip in the build uses no index."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = project["build-system"]["requires"] + project["project"]["dependencies"]
    wheels = tmp_path / "wheels"
    got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                          "-d", str(wheels), *reqs], capture_output=True, text=True,
                         timeout=300, check=False)
    assert got.returncode == 0, got.stderr[-2000:]
    inputs = image.BuildInputs("runtime", ca=None, wheelhouse=wheels)
    tag = image.build(inputs, alias=False)
    try:
        proc = run_image(tag, "run", "screen-share", "--media-seconds", "0.3")
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    finally:
        docker("rmi", tag)
