"""The image's tag is derived from exactly what it is built from."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from lab.runtime.image import (
    REPO,
    TARGETS,
    BuildInputs,
    context_files,
    context_tar,
    stages_for,
)


def repo(tmp_path: Path, git: bool) -> Path:
    root = tmp_path / "repo"
    for name in ("Dockerfile", "setup", "pyproject.toml", "lab/a.py", "nodes/b.py",
                 "topologies/t.yaml", "scenarios/s.yaml", "tests/t.py", "docs/d.md"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    (root / ".venv/bin").mkdir(parents=True)
    (root / ".venv/bin/python").write_text("x")
    (root / "lab/__pycache__").mkdir()
    (root / "lab/__pycache__/a.pyc").write_text("x")
    if git:
        (root / ".gitignore").write_text(".venv/\n__pycache__/\n")
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def test_the_context_is_what_the_dockerfile_copies(tmp_path: Path) -> None:
    for git in (True, False):
        root = repo(tmp_path / str(git), git)
        files = BuildInputs("runtime", repo=root).with_files().files
        assert files == ("Dockerfile", "lab/a.py", "nodes/b.py", "pyproject.toml",
                         "scenarios/s.yaml", "setup", "topologies/t.yaml")
        assert "tests/t.py" in BuildInputs("test", repo=root).with_files().files
        assert ".venv/bin/python" not in context_files(root)


def test_the_tag_follows_the_code_the_target_and_the_extras(tmp_path: Path) -> None:
    root = repo(tmp_path, git=False)
    ca = tmp_path / "ca.pem"
    ca.write_text("CERT")
    base = BuildInputs("runtime", repo=root).with_files().tag
    assert base.startswith("uclab:runtime-")
    assert base == BuildInputs("runtime", repo=root).with_files().tag  # stable
    (root / "docs/d.md").write_text("changed")  # not in the image: same tag
    assert BuildInputs("runtime", repo=root).with_files().tag == base
    (root / "lab/a.py").write_text("changed")
    changed = BuildInputs("runtime", repo=root).with_files()
    assert changed.tag != base
    assert BuildInputs("test", repo=root).with_files().tag != changed.tag
    with_ca = BuildInputs("runtime", ca=ca, repo=root).with_files()
    assert with_ca.tag != changed.tag
    assert BuildInputs("runtime", base="debian:bookworm-slim", repo=root).with_files().tag \
        != changed.tag


def test_the_context_tar_holds_the_extras_under_the_names_the_dockerfile_copies(
        tmp_path: Path) -> None:
    root = repo(tmp_path, git=False)
    ca = tmp_path / "proxy.pem"
    ca.write_text("CERT")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "x-1-py3-none-any.whl").write_text("W")
    inputs = BuildInputs("runtime", ca=ca, wheelhouse=wheels, repo=root).with_files()
    with tarfile.open(fileobj=io.BytesIO(context_tar(inputs)), mode="r:gz") as tar:
        names = tar.getnames()
        assert tar.extractfile("extra-ca.crt").read() == b"CERT"  # type: ignore[union-attr]
    assert "wheelhouse/x-1-py3-none-any.whl" in names
    assert "lab/a.py" in names and "tests/t.py" not in names


def test_docker_gets_only_the_stages_a_target_is_built_from() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    chains = {t: [line.split()[-1] for line in stages_for(dockerfile, t).splitlines()
                  if line.startswith("FROM ")] for t in TARGETS}
    assert chains == {"runtime": ["system", "runtime"],
                      "vagrant": ["system", "vagrant-system", "vagrant"],
                      "test": ["system", "test-system", "test"]}
    assert stages_for(dockerfile, "runtime").startswith(dockerfile[:dockerfile.index("FROM ")])
    # the default target of a plain `docker build .` is the last stage: the runtime
    last = [line for line in dockerfile.splitlines() if line.startswith("FROM ")][-1]
    assert last.endswith(" AS runtime")
