"""The scenario library in real labs: ``uclab run --all`` holds every scenario's expectations
(JUnit and JSON summaries); each failing scenario fails *because of* its fault (a copy without
its overrides, policies and faults passes the ladder, so its own expectations no longer hold);
a bad policy or fault leaves nothing built; a link cut happens when asked."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import yaml

from lab import scenario
from lab.base.names import RUN_ROOT
from tests.labhelp import lab_name, lab_namespaces

ROOT = Path(__file__).resolve().parent.parent.parent
BROKEN_BY = ("overrides", "policies", "faults", "time_scale")


def uclab(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, check=False)


def assert_gone(lab: str) -> None:
    assert lab_namespaces(lab) == []
    assert not (RUN_ROOT / lab).exists()


def test_run_all_holds_every_expectation(tmp_path: Path) -> None:
    lab = lab_name()
    junit, summary = tmp_path / "scenarios.xml", tmp_path / "scenarios.json"
    proc = uclab("run", "--all", "--name", lab, "--junit", str(junit), "--json", str(summary),
                 timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert_gone(lab)
    names = scenario.names()
    assert f"{len(names)} of {len(names)} scenarios hold their expectations" in proc.stdout
    suite = ET.fromstring(junit.read_text())
    assert [c.get("name") for c in suite] == names
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == (
        str(len(names)), "0", "0")
    rows = {r["scenario"]: r for r in json.loads(summary.read_text())}
    for name in names:
        sc = scenario.load(name)
        row = rows[name]
        assert row["passed"] and row["got"] == row["expected"], row
        for words in sc.expect.diagnosis:  # computed from each run's capture
            assert any(words.lower() in line.lower() for line in row["diagnosis"]), (name, words)
    assert any("the rule dropped" in f for f in rows["internet-packet-loss"]["faults"])


def _without_its_fault(name: str, folder: Path) -> Path:
    """A copy of scenario ``name`` without what breaks it (same expectations)."""
    doc: dict[str, Any] = yaml.safe_load((ROOT / "scenarios" / f"{name}.yaml").read_text())
    for key in BROKEN_BY:
        doc.pop(key, None)
    doc["name"] = f"{name}-fixed"
    path = folder / f"{name}-fixed.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _why(name: str, data: dict[str, Any]) -> str:
    """What a failed run said: the ladder's summary and reasons, the capture's warnings and
    TLS count, the call and the diagnosis, and where its capture is."""
    cap, run = data["capture"], data["run"]
    return "\n".join([f"{name}: {data['verdict']['summary']}", *data["verdict"]["reasons"],
                      *cap["warnings"], f"TLS not decrypted: {cap['tls_not_decrypted']}",
                      f"call: {run['call']}", *run["diagnosis"], f"capture: {run['pcap']}"])


def _run_json(path: Path, folder: Path) -> tuple[int, dict[str, Any]]:
    out = folder / f"{path.stem}.json"
    proc = uclab("run", str(path), "--name", lab_name(), "--json", str(out), "--media-seconds",
                 "0.3", "--pcap", str(folder / f"{path.stem}.pcapng"))  # kept for a post-mortem
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    data: dict[str, Any] = json.loads(out.read_text())
    assert_gone(data["run"]["lab"])
    return proc.returncode, data


def test_each_failure_needs_its_fault(tmp_path: Path) -> None:
    """Remove the overrides, policies and faults from a copy of each breaking scenario: the
    share passes again, so the scenario's own expectations no longer hold."""
    broken = [n for n in scenario.names() if n != "screen-share"]
    copies = [_without_its_fault(n, tmp_path) for n in broken]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda p: _run_json(p, tmp_path), copies))
    for name, (code, data) in zip(broken, results, strict=True):
        sc = scenario.load(name)
        assert data["verdict"]["verdict"] == "pass", _why(name, data)
        assert data["run"]["call"]["reached"] == "ended", name
        assert code == 1 and data["run"]["passed"] is False, name
        unmet = data["run"]["expectations"]["unmet"]
        if sc.expect.verdict == "fail":
            assert unmet[0].startswith("expected verdict fail, got pass"), (name, unmet)
        else:  # the packet loss: the call passes either way; the firewall's drops are gone.
            # (A loaded machine can still show a genuine TCP retransmission, e.g. a tail-loss
            # probe, so the drop inside fw-outside is what proves the fault was removed.)
            assert unmet and all("expected the diagnosis to say" in u for u in unmet), unmet
            assert any("never left it" in u for u in unmet), unmet
            assert not any("never left" in d for d in data["run"]["diagnosis"]), \
                data["run"]["diagnosis"]


@pytest.mark.parametrize(("text", "says"), [
    ("policies:\n  fw-inside: bad.nft\n", "nft rejects this policy"),
    ("policies:\n  fw-outside: bad.rules\n", "iptables-nft-restore rejects this policy"),
])
def test_a_policy_that_does_not_parse_leaves_nothing(tmp_path: Path, text: str,
                                                      says: str) -> None:
    (tmp_path / "bad.nft").write_text("table inet t {\n chain c {\n  tcp dport 5061 acept\n }\n}\n")
    (tmp_path / "bad.rules").write_text("*filter\n:FORWARD DROP [0:0]\n"
                                        "-A FORWARD -p tcp --dprot 5061 -j ACCEPT\nCOMMIT\n")
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\ndescription: d\n{text}")
    lab = lab_name()
    proc = uclab("run", str(path), "--name", lab)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and ":3:" in proc.stderr and "fix:" in proc.stderr
    assert_gone(lab)


def test_a_bad_scenario_stops_run_all_before_any_lab(tmp_path: Path) -> None:
    lab = lab_name()
    proc = uclab("run", "--all", "--name", lab, "--pcap", str(tmp_path / "x.pcapng"))
    assert proc.returncode == 2 and "--pcap is for one scenario" in proc.stderr
    assert_gone(lab)


def test_a_link_cut_at_a_daemon_event(tmp_path: Path) -> None:
    path = tmp_path / "cut.yaml"
    path.write_text("name: cut\ndescription: the Edge's Internet link cut once CMS answers\n"
                    "faults:\n  - cut: {link: 'sfb-edge:external', at: 'cms:answered'}\n"
                    "limits: {setup_seconds: 3}\nexpect: {verdict: fail}\n")
    code, data = _run_json(path, tmp_path)
    assert code == 0, data["run"]["expectations"]
    assert data["run"]["call"]["faults"] == [
        "cut the link sfb-edge:external (down) when cms reported 'answered'"]
    assert data["run"]["changes"]["faults"] == [
        "cut the link sfb-edge:external when cms reports 'answered'"]
    # CMS was held at 'answered' while the link went down, so its 200 OK went all the way to
    # the cut (it leaves Expressway-E, the Edge never gets it): a step is seen where its
    # receiver's tap saw it, so the ladder stops at that 200 OK, step 13, every run
    assert data["verdict"]["stopped_at"] == 13, data["verdict"]["summary"]


def test_a_scenario_that_changes_the_lab_refuses_a_lab_that_is_up() -> None:
    lab = lab_name()
    up = uclab("up", "--name", lab, "--no-daemons")
    assert up.returncode == 0, up.stderr
    try:
        proc = uclab("run", "cms-wrong-turn-password", "--name", lab)
        assert proc.returncode == 2
        assert (f"lab {lab} runs" in proc.stderr and "scenario cms-wrong-turn-password needs "
                "a lab of its own (settings of cms)" in proc.stderr), proc.stderr
        assert (RUN_ROOT / lab).exists()  # the lab is left as it was
    finally:
        down = uclab("down", "--name", lab)
    assert down.returncode == 0, down.stderr
    assert_gone(lab)


def test_a_fault_given_on_the_command_line_breaks_a_passing_scenario(tmp_path: Path) -> None:
    """What a trainer does: the happy path, broken on purpose with --fault, fails where the
    fault says (CMS killed while held at 'answered': no 200 OK, step 11) and says why."""
    out, lab = tmp_path / "r.json", lab_name()
    proc = uclab("run", "screen-share", "--name", lab, "--json", str(out),
                 "--fault", "stop: {node: cms, at: 'cms:answered'}")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    data: dict[str, Any] = json.loads(out.read_text())
    assert_gone(lab)
    assert data["verdict"]["stopped_at"] == 11, data["verdict"]["summary"]
    assert data["run"]["changes"]["faults"] == ["kill the cms daemon when cms reports 'answered'"]
    assert any("Meeting Server closed the connection" in r and "without sending its 200 OK" in r
               for r in data["verdict"]["reasons"]), data["verdict"]["reasons"]
