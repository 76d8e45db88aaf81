"""Scenario files (lab.scenario) read strictly, and what a run expects, computed from the
topology (lab.run.expect): both SDPs of flow.md §4 character for character, the relayed and
mapped addresses, the first four bytes of the Edge's check; the seed's four columns; the
scenario's verdict."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from lab import scenario, topology
from lab.base.errors import InputError
from lab.ladder import build_ladder
from lab.run.expect import expected_values, judge, ladder_names, mapped
from lab.scenario import Expect
from lab.topology.roles import CmsSettings
from tests.ladderhelp import cut_after, flow, flow_ladder, names
from tests.unit.test_sdp_flow import ANSWER, OFFER

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_screen_share_scenario() -> None:
    sc = scenario.load("screen-share")
    assert sc.name == "screen-share" and sc.path == SCENARIOS / "screen-share.yaml"
    assert sc.topology.name == "sfb-cms-expressway"
    assert sc.media.seconds > 0 and sc.limits.setup_seconds > 0
    assert sc.expect == Expect("pass", None)
    assert "screen-share" in scenario.names()


def test_defaults_and_a_topology_path_next_to_the_file(tmp_path: Path) -> None:
    topo = topology.load().path
    (tmp_path / "t.yaml").write_text(topo.read_text().replace(
        "policies/", str(topo.parent / "policies") + "/"))
    sc = scenario.load(_write(tmp_path, "name: x\ndescription: d\ntopology: t.yaml\n"))
    assert sc.topology.path == tmp_path / "t.yaml"
    assert (sc.media.seconds, sc.limits.setup_seconds, sc.expect.verdict) == (1.0, 15.0, "pass")


@pytest.mark.parametrize(("text", "line", "message"), [
    ("name: x\ndescription: d\nmedia: {secnds: 2}\n", 3, "unknown key"),
    ("name: x\ndescription: d\nmedia:\n  seconds: 0\n", 4, "more than 0"),
    ("name: x\ndescription: d\nexpect: {verdict: passed}\n", 3, "'passed' is not allowed"),
    ("name: x\ndescription: d\nexpect: {verdict: pass, stopped_at: 11}\n", 3,
     "needs verdict: fail"),
    ("name: x\ndescription: d\nexpect: {verdict: fail, stopped_at: 40}\n", 3, "1-33"),
    ("name: x\ndescription: d\ntopology: nowhere\n", 3, "no topology named 'nowhere'"),
    ("name: x\n", 1, "'description' is missing"),
])
def test_mistakes_name_file_line_and_fix(tmp_path: Path, text: str, line: int,
                                         message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        scenario.load(path)
    assert err.value.path == path and err.value.line == line
    assert message in str(err.value)


def test_unknown_scenario_name_lists_the_known_ones() -> None:
    with pytest.raises(InputError) as err:
        scenario.load("screenshare")
    assert "screen-share" in (err.value.fix or "")


def test_expected_sdps_are_flow_4_character_for_character() -> None:
    values = expected_values(topology.load())
    for step in (1, 3, 5):
        assert values[step]["SDP"] + "\n" == OFFER
    for step in (11, 12, 13):
        assert values[step]["SDP"] + "\n" == ANSWER


def test_expected_values_of_the_seed() -> None:
    values = expected_values(topology.load())
    assert values[9] == {"XOR-RELAYED-ADDRESS": "192.168.1.229:24000",
                         "XOR-MAPPED-ADDRESS": "10.48.54.230:33347"}
    assert values[17] == {"from": "192.168.1.252:53577", "to": "192.168.1.229:24000",
                          "first bytes": "00 6c 00 01"}
    assert values[18] == {"XOR-PEER-ADDRESS": "192.168.1.252:53577"}
    assert values[19] == {"from": "10.48.54.230:33348"}
    assert values[7] == {"ERROR-CODE": "401 Unauthorized"}


def test_values_follow_the_topology() -> None:
    topo = topology.load()
    cms = topo.node("cms").settings
    assert isinstance(cms, CmsSettings)
    changed = topo.with_settings("cms", dataclasses.replace(
        cms, ice=dataclasses.replace(cms.ice, ufrag="longerUfrag")))
    # a longer USERNAME in the Edge's check (16 characters, not 12): no longer 108 bytes
    assert expected_values(changed)[17]["first bytes"] == "00 70 00 01"


def test_mapped_addresses_through_the_nat() -> None:
    topo = topology.load()
    assert mapped(topo, IPv4Address("192.168.251.128"), 17676) == ("10.149.4.201", 65417)
    assert mapped(topo, IPv4Address("192.168.251.128"), 13450) == ("10.149.4.201", 13450)
    assert mapped(topo, IPv4Address("10.48.54.230"), 33347) == ("10.48.54.230", 33347)


def test_ladder_columns_from_the_topology() -> None:
    n = ladder_names(topology.load())
    assert [(c.role, c.addresses) for c in n.columns] == [
        ("sfb", ("10.149.4.10", "192.168.1.252")),
        ("expressway-e", ("192.168.1.229", "10.48.54.229")),
        ("expressway-c", ("10.48.54.227",)), ("cms", ("10.48.54.230",))]
    assert n.hosts["192.168.251.128"] == "sfb-client" and n.hosts["10.149.4.201"] == "sfb-nat"


def test_judge_verdicts() -> None:
    good = flow_ladder()
    assert judge(Expect("pass"), good, []) == []
    assert "got fail" in judge(Expect("pass"), good, ["the cms daemon died"])[0]
    stopped = build_ladder(cut_after(flow(), good.steps[4].ts_ns or 0), names=names())
    assert judge(Expect("fail", stopped.verdict.stopped_at), stopped, []) == []
    assert judge(Expect("fail", 11), stopped, [])[0].startswith(
        "expected the ladder to stop at step 11")
    assert judge(Expect("pass"), None, []) == ["no ladder: the capture could not be read"]


def test_uclab_run_refuses_bad_input_with_exit_2(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    from lab.cli import main  # noqa: PLC0415 - the CLI, as the trainee calls it

    assert main(["run", "screenshare"]) == 2
    assert "no scenario named 'screenshare'" in capsys.readouterr().err
    assert main(["run", "screen-share", "--media-seconds", "0"]) == 2
    assert "media.seconds must be more than 0" in capsys.readouterr().err
    assert main(["run", "screen-share", "--pcap", str(tmp_path / "no" / "x.pcapng")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["run", "screen-share", "--name", "Bad-Name"]) == 2
