"""The layer contracts of docs/architecture.md, checked by import-linter (``lint-imports``,
configured in pyproject.toml), and proof that each kind of contract bites: a copy of the tree
with one import added against a contract fails with that contract named."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_the_tree_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_drawing_in_the_docs_is_the_contract() -> None:
    """docs/architecture.md draws the layers of the import-linter contract, in its order."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c["layers"] for c in config["contracts"] if c["type"] == "layers")
    doc = (ROOT / "docs" / "architecture.md").read_text()
    drawing = doc.split("## Layers", 1)[1].split("```", 2)[1]
    firsts = [line.split("  ")[0].strip() for line in drawing.splitlines()
              if line.startswith("lab.")]
    assert firsts == layers


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for part in ("lab", "nodes"):
        shutil.copytree(ROOT / part, tmp_path / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


#: (module, the line added to it, the contract that line breaks)
BREACHES = [
    ("lab/proto/stun/message.py", "import lab.cli  # noqa",
     "Layers: each package imports only the layers below it"),
    ("lab/proto/sip/message.py", "import asyncio  # noqa",
     "Protocol cores are sans-I/O"),
    ("lab/kernel/links.py", "import lab.topology  # noqa",
     "The kernel layer imports nothing of the lab but the base"),
    ("lab/run/engine.py", "import nodes.cms  # noqa",
     "The lab never imports the daemon mains"),
    ("nodes/cms.py", "import lab.run  # noqa",
     "Daemon mains use the daemon contract and the stacks"),
    ("lab/base/names.py", "import lab.base.state  # noqa",
     "No import cycles between sibling modules or packages"),
]


def test_each_broken_contract_fails_the_check(tree: Path) -> None:
    for module, line, _ in BREACHES:
        _append(tree / module, line)
    result = lint(tree)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    for module, _, contract in BREACHES:
        assert contract in broken, (module, result.stdout)
