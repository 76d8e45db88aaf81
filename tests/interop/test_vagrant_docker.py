"""``vagrant up --provider=docker`` with the repository's Vagrantfile, from the uclab image's
vagrant target, and the screen share inside it over ``vagrant ssh`` (Debian's vagrant)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.dockerhelp import docker, uclab_image
from tests.labhelp import lab_name

ROOT = Path(__file__).resolve().parent.parent.parent
# the first test of a clean machine builds the image (debootstrap, apt, pip: minutes)
pytestmark = pytest.mark.timeout(900)


def test_vagrant_up_with_the_docker_provider_runs_the_share(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "Vagrantfile", project / "Vagrantfile")
    name = f"uclab-vagrant-{lab_name()}"
    env = {**os.environ, "UCLAB_VAGRANT_IMAGE": uclab_image("vagrant"),
           "UCLAB_VAGRANT_NAME": name, "VAGRANT_CHECKPOINT_DISABLE": "1"}

    def vagrant(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["vagrant", *args], cwd=project, env=env, capture_output=True,
                              text=True, timeout=timeout, check=False)

    try:
        up = vagrant("up", "--provider=docker")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert "setup: ready: /usr/local/bin/uclab" in up.stdout  # provisioned by ./setup
        info = docker("inspect", "--format", "{{.HostConfig.Privileged}} {{.HostConfig.CapAdd}}",
                      name)
        assert info.stdout.split()[0] == "false"
        assert "NET_ADMIN" in info.stdout and "SYS_ADMIN" in info.stdout
        share = vagrant("ssh", "-c", "sudo uclab run screen-share --media-seconds 0.3")
        assert share.returncode == 0, share.stdout[-3000:] + share.stderr[-3000:]
        assert "PASS: all 33 steps of flow.md §3 seen in order" in share.stdout
    finally:
        destroy = vagrant("destroy", "-f")
        assert destroy.returncode == 0, destroy.stderr
    assert docker("ps", "-a", "-q", "--filter", f"name=^{name}$").stdout.strip() == ""
