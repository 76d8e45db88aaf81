"""Scenario files with overrides, policies, faults, time scale and diagnosis expectations, read
strictly (file, line, fix); the library itself; the runtime faults a scenario makes."""

from __future__ import annotations

import enum
import re
from pathlib import Path

import pytest

from lab import scenario, topology
from lab.base.errors import InputError
from lab.run.engine import RunPlan
from lab.run.faults import KillDaemon, LinkCut, LossPoint, PacketLoss, faults_for, loss_ruleset
from lab.scenario import DAEMON_EVENTS, Trigger
from lab.topology import events as vocab
from lab.topology.roles import ROLES, CmsSettings, ExpresswayESettings

ROOT = Path(__file__).resolve().parents[2]
HEAD = "name: x\ndescription: d\n"


def _load(tmp_path: Path, text: str) -> scenario.Scenario:
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + text)
    return scenario.load(path)


def _error(tmp_path: Path, text: str) -> InputError:
    with pytest.raises(InputError) as err:
        _load(tmp_path, text)
    assert err.value.path == tmp_path / "s.yaml"
    return err.value


def test_overrides_merge_key_by_key_into_the_topology(tmp_path: Path) -> None:
    sc = _load(tmp_path, "overrides:\n  cms:\n    turn: {password: wrong, connection_bind: false}"
                         "\n  expressway-e:\n    turn: {tcp: false}\n")
    cms = sc.topology.node("cms").settings
    base = topology.load().node("cms").settings
    assert isinstance(cms, CmsSettings) and isinstance(base, CmsSettings)
    assert (cms.turn.password, cms.turn.connection_bind) == ("wrong", False)
    assert cms.turn.username == base.turn.username and cms.ice == base.ice  # kept
    expe = sc.topology.node("expressway-e").settings
    assert isinstance(expe, ExpresswayESettings) and expe.turn.tcp is False
    assert sc.overridden == ("cms", "expressway-e")


@pytest.mark.parametrize(("text", "line", "says", "fix"), [
    ("overrides:\n  nobody: {x: 1}\n", 4, "no node 'nobody'", "override one of: sfb-client"),
    ("overrides:\n  fw-inside: {x: 1}\n", 4, "fw-inside (firewall) has no settings",
     "a node that runs a daemon"),
    ("overrides:\n  cms:\n    turn: {pasword: x}\n", 5, "cms.turn.pasword: unknown key",
     "did you mean 'password'?"),
    ("overrides:\n  cms: {attendees_may_share: no}\n", 4, "expected true or false",
     "write true or false"),
    ("overrides:\n  cms: {sip_listen: '10.48.54.231:5061'}\n", 4,
     "10.48.54.231 is not an address of cms", "use one of: 10.48.54.230"),
    ("policies:\n  cms: p.nft\n", 4, "cms is not a firewall", "fw-outside, fw-inside"),
    ("policies:\n  fw-inside: nowhere.nft\n", 4, "nowhere.nft not found", "relative to this"),
    ("faults:\n  - loss: {segment: moon, percent: 5}\n", 4, "no segment 'moon'",
     "internet, vc-internal"),
    ("faults:\n  - loss: {segment: internet, percent: 80}\n", 4, "at most 50", None),
    ("faults:\n  - cut: {link: sfb-edge}\n", 4, "node:interface", None),
    ("faults:\n  - cut: {link: 'sfb-edge:eth9'}\n", 4, "no interface 'sfb-edge:eth9'",
     "sfb-edge:external"),
    ("faults:\n  - stop: {node: fw-inside}\n", 4, "'fw-inside' is not a node with a daemon",
     "cms"),
    ("faults:\n  - stop: {node: cms, at: 'cms:ringing'}\n", 4, "the cms daemon (cms) never reports "
     "'ringing'", "invite, allocated"),
    ("faults:\n  - stop: {node: cms, at: cms}\n", 4, "is not NODE:EVENT", None),
    ("faults:\n  - {stop: {node: cms}, loss: {segment: internet, percent: 5}}\n", 4,
     "exactly one of loss, cut, stop (found loss, stop)", None),
    ("faults:\n  - {}\n", 4, "(found none)", None),
    ("time_scale: 0\n", 3, "0 is out of range", "from 0.01 to 1"),
    ("time_scale: fast\n", 3, "expected a number", None),
    ("expect: {verdict: fail, diagnosis: ['']}\n", 3, "must have words", None),
])
def test_mistakes_name_file_line_and_fix(tmp_path: Path, text: str, line: int, says: str,
                                         fix: str | None) -> None:
    (tmp_path / "p.nft").write_text("")
    err = _error(tmp_path, text)
    assert err.line == line, str(err)
    assert says in str(err)
    if fix is not None:
        assert fix in (err.fix or ""), err.fix


def test_policy_paths_are_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "in.nft").write_text("")
    sc = _load(tmp_path, "policies:\n  fw-inside: policies/in.nft\n")
    assert sc.policies == {"fw-inside": tmp_path / "policies" / "in.nft"}


def test_the_library() -> None:
    names = scenario.names()
    assert len(names) >= 10 and "screen-share" in names
    for name in names:
        sc = scenario.load(name)
        assert sc.name == name and sc.path == ROOT / "scenarios" / f"{name}.yaml"
        assert sc.description and "\n" not in sc.description
        if sc.expect.verdict == "fail":
            assert sc.expect.stopped_at is not None and sc.expect.diagnosis, name
        # each scenario breaks something (or is the baseline)
        changes = bool(sc.overridden or sc.policies or sc.faults)
        assert changes == (name != "screen-share"), name


def test_daemon_events_are_the_ones_the_daemons_report() -> None:
    """The daemons emit events only through the role registry's vocabularies, and every
    event a fault may wait for is emitted by the daemon of its role (or its shared code)."""
    shared = "".join((ROOT / "nodes" / f).read_text() for f in ("call.py", "common.py"))
    classes = [c for c in vars(vocab).values()
               if isinstance(c, type) and issubclass(c, enum.StrEnum) and c is not enum.StrEnum]
    for role in (r for r in ROLES.values() if r.daemon):
        source = (ROOT / (role.daemon or "").replace(".", "/")).with_suffix(".py").read_text()
        assert not re.search(r"events\.(?:add|reach)\(\s*[\"']", source + shared), role.name
        emitted = {str(c[m]) for c in classes for m in re.findall(
            rf"\b{c.__name__}\.([A-Z_]+)\b", source + shared)}
        assert set(role.events) <= emitted, (role.name, set(role.events) - emitted)
    assert DAEMON_EVENTS["cms"] == ROLES["cms"].events


def test_faults_for_a_scenario(tmp_path: Path) -> None:
    sc = _load(tmp_path, "faults:\n  - loss: {segment: internet, percent: 5}\n"
                         "  - loss: {segment: sfb-lan, percent: 2.5, random: true}\n"
                         "  - cut: {link: 'sfb-edge:external', at: 'cms:answered'}\n"
                         "  - stop: {node: cms, at: 'sfb-client:invite'}\n"
                         "limits: {setup_seconds: 4}\n")
    faults = faults_for(sc.faults, sc.topology, within=sc.limits.setup_seconds)
    loss, lan, cut, stop = faults
    assert isinstance(loss, PacketLoss) and loss.points == [LossPoint("fw-outside", "forward")]
    assert loss.description.startswith("5% packet loss on segment internet (one packet in 20")
    assert isinstance(lan, PacketLoss) and lan.points == [
        LossPoint("sfb-client", "postrouting", "eth0"), LossPoint("sfb-nat", "postrouting",
                                                                  "inside")]
    assert isinstance(cut, LinkCut) and (cut.node, cut.iface, cut.at) == (
        "sfb-edge", "external", Trigger("cms", "answered"))
    assert isinstance(stop, KillDaemon) and stop.at == Trigger("sfb-client", "invite")
    assert stop.description == "kill the cms daemon when sfb-client reports 'invite'"
    assert all(f.within == 4 for f in (loss, lan, cut, stop))
    assert RunPlan.of(sc).faults != () and RunPlan.of(sc, faults=()).faults == ()


def test_loss_rulesets() -> None:
    even = loss_ruleset(5, False, LossPoint("fw-outside", "forward"), "5% loss on internet")
    assert "type filter hook forward priority -150; policy accept;" in even
    assert 'meta nfproto ipv4 numgen inc mod 20 == 19 counter drop comment "uclab: 5% loss' \
        in even
    rnd = loss_ruleset(2.5, True, LossPoint("sfb-nat", "postrouting", "inside"), "x")
    assert 'oifname "inside" meta nfproto ipv4 numgen random mod 10000 < 250 counter drop' in rnd
    assert rnd.startswith("table inet uclab_fault\ndelete table inet uclab_fault\n")
