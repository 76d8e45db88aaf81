"""The Vagrantfile is valid for Vagrant and provisions with the same set-up command as CI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent.parent


def validate(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VAGRANT_HOME": str(folder / ".vagrant.d"),
           "VAGRANT_CHECKPOINT_DISABLE": "1"}
    return subprocess.run([require_tool("vagrant"), "validate", "--ignore-provider"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_vagrant_validates_the_vagrantfile(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Vagrantfile", tmp_path / "Vagrantfile")
    result = validate(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout
    broken = (ROOT / "Vagrantfile").read_text().replace("config.vm.box =", "config.vm.bx =")
    (tmp_path / "Vagrantfile").write_text(broken)
    assert validate(tmp_path).returncode != 0


def test_provisioning_runs_the_readme_and_ci_set_up_command() -> None:
    vagrantfile = (ROOT / "Vagrantfile").read_text()
    assert 'config.vm.box = "debian/bookworm64"' in vagrantfile
    found = re.search(r'inline: ((?:"[^"]*"\s*\\?\s*)+)', vagrantfile)
    assert found is not None
    inline = "".join(re.findall(r'"([^"]*)"', found.group(1)))  # Ruby's adjacent literals
    # a VM runs the README's set-up on the copied project; the docker provider's container
    # already holds the project, installed by the same ./setup in the image, and checks it
    assert inline == ("if [ -x /opt/uclab/setup ]; then cd /opt/uclab && ./setup --image "
                      "vagrant --step project; else cd /vagrant && ./setup; fi")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./setup && ./test" in ci
    readme = (ROOT / "README.md").read_text().splitlines()
    commands = [line for line in readme[:12] if line.startswith("./setup && ")]
    assert len(commands) == 2  # run the main job; run the tests (the command CI runs)
    assert any(c.startswith("./setup && ./test") for c in commands)
