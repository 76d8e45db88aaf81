"""``uclab junit merge``: shards' JUnit files joined (junitparser), an incomplete or
overlapping set refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser import JUnitXml

from lab import scenario
from lab.cli import main
from lab.cli.scenario_view import Outcome, junit
from lab.scenario.shard import Shard, partition


def _write_shards(tmp_path: Path, n: int, *, broken: str | None = None) -> list[Path]:
    """The shards' files of outcomes without a run (failures), ``broken``'s an error."""
    files = []
    for k, names in enumerate(partition(scenario.names(), n), start=1):
        outs = [Outcome(scenario.load(name), seconds=1.0, unmet=["expected pass, got fail"],
                        error="the lab could not be brought up" if name == broken else None)
                for name in names]
        path = tmp_path / f"shard-{k}.xml"
        path.write_text(junit(outs, Shard(k, n)), encoding="utf-8")
        files.append(path)
    return files


@pytest.mark.parametrize("n", [1, 2, 3])
def test_merge_of_every_shard(tmp_path: Path, n: int, capsys: pytest.CaptureFixture[str]) -> None:
    files = _write_shards(tmp_path, n, broken=scenario.names()[0])
    out = tmp_path / "all.xml"
    assert main(["junit", "merge", str(out), *map(str, reversed(files))]) == 1
    merged = JUnitXml.fromfile(str(out))
    cases = [(c.classname, c.name) for suite in merged for c in suite]
    assert sorted(cases) == sorted(("scenarios", name) for name in scenario.names())
    total = len(scenario.names())
    assert (merged.tests, merged.failures, merged.errors) == (total, total - 1, 1)
    assert sorted(s.name for s in merged) == sorted(
        f"uclab scenarios (shard {k}/{n})" for k in range(1, n + 1))
    assert f"{total} cases from {n} files, {total - 1} failures, 1 errors" in (
        capsys.readouterr().out)


@pytest.mark.parametrize(("pick", "says"), [
    (lambda f: f[:2], "shard 3/3 missing"),
    (lambda f: [*f, f[0]], "shard 1/3 given twice"),
])
def test_incomplete_or_doubled_shards_are_refused(tmp_path: Path, pick: object, says: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    files = _write_shards(tmp_path, 3)
    assert callable(pick)
    assert main(["junit", "merge", str(tmp_path / "all.xml"), *map(str, pick(files))]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "all.xml").exists()


def test_mixed_n_and_repeated_cases_are_refused(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    first, second = _write_shards(tmp_path, 2)
    rest = [Outcome(scenario.load(c.name)) for suite in JUnitXml.fromfile(str(second))
            for c in suite]
    second.write_text(junit(rest, Shard(2, 3)))  # the other cases, labelled as of N = 3
    assert main(["junit", "merge", str(tmp_path / "x.xml"), str(first), str(second)]) == 2
    assert "shards of different N: 1/2, 2/3" in capsys.readouterr().err
    plain = tmp_path / "plain.xml"
    plain.write_text(junit([Outcome(scenario.load("screen-share"))]))
    assert main(["junit", "merge", str(tmp_path / "x.xml"), str(plain), str(plain)]) == 2
    assert "test case 'screen-share' (scenarios) is also in" in capsys.readouterr().err


def test_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<testsuite><testcase")
    assert main(["junit", "merge", str(tmp_path / "x.xml"), str(bad)]) == 2
    assert "bad.xml: not a JUnit XML file" in capsys.readouterr().err
    assert main(["junit", "merge", str(tmp_path / "x.xml"), str(tmp_path / "none.xml")]) == 2
    assert "none.xml: no such file" in capsys.readouterr().err
