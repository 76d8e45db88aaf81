"""``uclab scenarios`` and the usage errors of ``uclab run`` (no lab is built by any of these)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from lab import scenario
from lab.cli import main
from lab.cli.scenario_view import Outcome, expects, junit


def test_scenarios_lists_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for name in scenario.names():
        sc = scenario.load(name)
        line = next(ln for ln in out.splitlines() if ln.startswith(name + " "))
        assert expects(sc) in line
        assert sc.description.split()[0] in line
    assert f"{len(scenario.names())} scenarios in" in out


@pytest.mark.parametrize(("args", "says"), [
    (["run"], "give one SCENARIO or --all"),
    (["run", "screen-share", "--all"], "give one SCENARIO or --all"),
    (["run", "--all", "--svg", "x.svg"], "--svg is for one scenario"),
    (["run", "--all", "--keep"], "--keep is for one scenario"),
    (["run", "--all", "--junit", "/nonexistent/dir/x.xml"], "no such folder"),
    (["run", "--all", "--fault", "stop: {node: cms}"], "--fault is for one scenario"),
    (["run", "screen-share", "--fault", "cut: {link: sfb-edge:externl}"],
     "--fault:1: faults[0].cut.link: no interface 'sfb-edge:externl'"),
    (["run", "screen-share", "--fault", "stop: {node: cms}", "--fault",
      "stop: {node: cms, at: 'cms:answred'}"],
     "--fault:1: faults[1].stop.at: the cms daemon (cms) never reports 'answred'"),
    (["run", "screen-share", "--fault", "cut: {link: sfb-edge:external at: cms:answered}"],
     "--fault:1: YAML syntax"),
    (["run", "screen-share", "--fault", "cut: {link: sfb-edge:external}, stop: {node: cms}"],
     "exactly one of"),
])
def test_run_usage_errors(args: list[str], says: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert says in capsys.readouterr().err


def test_junit_of_outcomes(tmp_path: Path) -> None:
    sc = scenario.load("screen-share")
    bad = scenario.load("turn-3478-udp-only")
    text = junit([Outcome(sc, seconds=1.5, error="the lab could not be brought up: x"),
                  Outcome(bad, seconds=2.0, unmet=["expected verdict fail, got pass: ..."])])
    suite = ET.fromstring(text)
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "1")
    first, second = list(suite)
    assert first.get("name") == "screen-share" and first.find("error") is not None
    failure = second.find("failure")
    assert failure is not None and failure.get("message") == (
        "expected verdict fail, got pass: ...")


def test_faults_from_the_command_line_join_the_scenarios() -> None:
    sc = scenario.with_faults(scenario.load("internet-packet-loss"), [
        "cut: {link: 'sfb-edge:external', at: 'cms:answered'}", "stop: {node: cms}"])
    kinds = [type(f.kind).__name__ for f in sc.faults]
    assert kinds == ["LossFault", "CutFault", "StopFault"]
    cut = sc.faults[1].kind
    assert isinstance(cut, scenario.CutFault) and cut.at == scenario.Trigger("cms", "answered")
    same = scenario.load("screen-share")
    assert scenario.with_faults(same, []) is same
