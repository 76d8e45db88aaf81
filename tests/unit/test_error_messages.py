"""Errors in data files name the line of the key that is wrong and a fix in words, with an
example of a valid value (never a Python type name), read through the CLI as a user meets
them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert main(list(argv)) == 2
    return capsys.readouterr().err.splitlines()


def test_a_checked_value_points_at_its_own_line_with_a_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: x\nmedia: {seconds: 0.5}\nexpect:\n"
                   "  verdict: fail\n  stopped_at: 40\n")
    first, fix = _error(capsys, "run", str(bad), "--name", "nolab11e")
    assert first.startswith(f"uclab: {bad}:6: expect.stopped_at: ")
    assert fix == ("  fix: write the number of the step where the ladder must stop, 1 to 33 "
                   "(uclab scenarios shows those of the library)")
    bad.write_text("name: bad\ndescription: x\nfaults:\n  - loss:\n      segment: internet\n"
                   "      percent: 70\n")
    first, fix = _error(capsys, "run", str(bad), "--name", "nolab11e")
    assert first.startswith(f"uclab: {bad}:6: faults[0].loss.percent: ")
    assert fix == "  fix: write a percentage such as 5 (at most 50)"


def test_a_bad_address_gets_an_example_not_a_type_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "topologies" / "sfb-cms-expressway.yaml").read_text()
    bad = tmp_path / "topo.yaml"
    bad.write_text(text.replace("eth0: 10.48.54.230/24", "eth0: 10.48.54.300/24"))
    line = text.splitlines().index("      eth0: 10.48.54.230/24") + 1
    first, fix = _error(capsys, "graph", "--topology", str(bad))
    assert first.startswith(f"uclab: {bad}:{line}: nodes.cms.interfaces.eth0: "
                            "'10.48.54.300/24' is not an IPv4 address with its prefix length")
    assert fix == "  fix: write an IPv4 address with its prefix length such as 10.48.54.230/24"
    assert "IPv4Interface" not in first + fix
