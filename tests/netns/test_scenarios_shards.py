"""``uclab run --all --shard K/N`` in real labs: the three shards of N = 3 run side by side
(the library once, about as long as one unsharded ``--all``), each runs exactly its slice, and
``uclab junit merge`` of their files has the unsharded run's cases: one per scenario of the
library, each holding its expectation (got what it expects, as ``--all`` reports it)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from junitparser import JUnitXml

from lab import scenario
from lab.cli.junit_cmds import shard_of
from lab.cli.scenario_view import expects
from lab.scenario.shard import Shard
from tests.labhelp import lab_name
from tests.netns.test_scenarios_library import assert_gone, uclab

N = 3


def _shard(k: int, folder: Path) -> tuple[str, Path, Path, str]:
    lab = lab_name()
    junit, summary = folder / f"shard-{k}.xml", folder / f"shard-{k}.json"
    proc = uclab("run", "--all", "--shard", f"{k}/{N}", "--name", lab, "--junit", str(junit),
                 "--json", str(summary), timeout=400)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return lab, junit, summary, proc.stdout


def test_shards_run_their_slices_and_merge_into_the_library(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=N) as pool:
        shards = list(pool.map(lambda k: _shard(k, tmp_path), range(1, N + 1)))
    names = scenario.names()
    for k, (lab, junit, summary, stdout) in enumerate(shards, start=1):
        assert_gone(lab)
        mine = Shard(k, N).select(names)
        assert f"shard {k}/{N}: {len(mine)} of {len(names)} scenarios: {', '.join(mine)}" in stdout
        [suite] = JUnitXml.fromfile(str(junit))
        assert shard_of(suite) == f"{k}/{N}"
        rows = json.loads(summary.read_text())
        assert [r["scenario"] for r in rows] == mine
        assert {r["shard"] for r in rows} == {f"{k}/{N}"}
    merged_path = tmp_path / "all.xml"
    proc = uclab("junit", "merge", str(merged_path), *(str(s[1]) for s in reversed(shards)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    merged = JUnitXml.fromfile(str(merged_path))
    assert (merged.tests, merged.failures, merged.errors) == (len(names), 0, 0)
    cases = {c.name: c for suite in merged for c in suite}
    assert sorted(cases) == names and sum(1 for s in merged for _ in s) == len(names)
    for name in names:
        want = expects(scenario.load(name))
        assert cases[name].is_passed, name
        assert (cases[name].system_out or "").startswith(f"expected {want}, got {want}\n"), name
