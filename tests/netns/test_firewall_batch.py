"""``uclab firewall check --batch tests/data/policies``: every pair of the folder's pairs.yaml,
each pair's report compared with its two policies' ``.expect.yaml`` (the rule that decided each
flow, its line, the probes), the summary with the expected verdict of each pair."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from lab.firewall import batch
from lab.scenario.shard import Shard
from tests.firewallhelp import POLICIES, compare, expectation, policy_files
from tests.labhelp import lab_name
from tests.netns.test_firewall_policies import PAIRS
from tests.netns.test_scenarios_library import uclab


def test_the_manifest_pairs_every_policy_as_the_pair_test_does() -> None:
    pairs = batch.load(POLICIES)
    assert sorted((p.policies["fw-outside"].name, p.policies["fw-inside"].name)
                  for p in pairs) == sorted((a, b) for a, b, _ in PAIRS)
    assert {f for p in pairs for f in p.policies.values()} == set(policy_files())
    for p in pairs:
        verdicts = {expectation(f).verdict for f in p.policies.values()}
        assert p.expect == ("pass" if verdicts == {"pass"} else "fail"), p.name


def test_batch_quick_every_pair(tmp_path: Path) -> None:
    reports, summary, junit = tmp_path / "reports", tmp_path / "sum.json", tmp_path / "sum.xml"
    proc = uclab("firewall", "check", "--batch", str(POLICIES), "--quick", "--name", lab_name(),
                 "--reports", str(reports), "--json", str(summary), "--junit", str(junit))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    pairs = batch.load(POLICIES)
    assert f"{len(pairs)} of {len(pairs)} policy pairs have their expected verdict" in proc.stdout
    data = json.loads(summary.read_text())
    assert [r["pair"] for r in data["pairs"]] == [p.name for p in pairs]
    problems = []
    for pair, row in zip(pairs, data["pairs"], strict=True):
        assert (row["verdict"], row["holds"]) == (pair.expect, True), row
        report = json.loads(Path(row["reports"]["json"]).read_text())
        for node, path in pair.policies.items():
            exp = expectation(path)
            assert exp.firewall == node
            problems += compare(path, exp, report)
        assert ET.parse(row["reports"]["junit"]).getroot().get("name") == "uclab firewall check"
    assert not problems, "\n".join(problems)
    suite = ET.fromstring(junit.read_text())
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == (
        str(len(pairs)), "0", "0")


def test_batch_shard_runs_the_real_share(tmp_path: Path) -> None:
    """One shard of nine (one pair) through the real screen share: the ladder stops where the
    pair test says."""
    pairs = batch.load(POLICIES)
    n = len(pairs)
    [name] = Shard(1, n).select(p.name for p in pairs)
    pair = next(p for p in pairs if p.name == name)
    stop = next(s for a, b, s in PAIRS
                if (a, b) == (pair.policies["fw-outside"].name, pair.policies["fw-inside"].name))
    summary = tmp_path / "sum.json"
    proc = uclab("firewall", "check", "--batch", str(POLICIES), "--shard", f"1/{n}",
                 "--name", lab_name(), "--json", str(summary))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert f"shard 1/{n}: 1 pairs: {name}" in proc.stdout
    data = json.loads(summary.read_text())
    [row] = data["pairs"]
    assert data["shard"] == f"1/{n}" and row["holds"] and row["reports"] == {}
    assert (row["first_broken_step"] or "").startswith(f"{stop} " if stop else ""), row
    assert (row["first_broken_step"] is None) == (stop is None), row
