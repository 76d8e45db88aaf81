"""`uclab firewall check` itself: bad policies refused before anything is built (with the
tool's own message and line), outputs (JSON, JUnit, raw traces) of a check through the real
screen share and of --quick, nothing left behind, the tracing session on its own, bounded
monitors, probe routes."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from lab import topology
from lab.base.errors import LabError
from lab.base.names import RUN_ROOT
from lab.cli import main
from lab.firewall import (
    RunOutcome,
    TraceSession,
    Traffic,
    check,
    flow_specs,
    judge,
    judged_nodes,
    never_seen,
    probe_until_seen,
    probes,
    send_probes,
)
from lab.firewall.flows import FlowSpec
from lab.firewall.trace import TRACE_TABLE
from lab.kernel import nftables, processes
from lab.lifecycle import build
from lab.lifecycle.context import BuildContext
from tests.firewallhelp import POLICIES, readdressed_topology
from tests.labhelp import connect, lab_name, lab_namespaces, listen, running_lab

BARE = [s for s in build.STEPS if s.name in ("network", "nftables")]


def assert_gone(lab: str) -> None:
    assert lab_namespaces(lab) == []
    assert not (RUN_ROOT / lab).exists()


def run_check(*args: str) -> tuple[int, str]:
    """Run the command in-process; (exit code, what it printed on stderr)."""
    lab = lab_name()
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf), contextlib.redirect_stdout(io.StringIO()):
        code = main(["firewall", "check", "--name", lab, *args])
    assert_gone(lab)
    return code, buf.getvalue()


@pytest.mark.parametrize(("name", "text", "fmt", "line", "says"), [
    ("typo.nft", "table inet fw {\n chain forward {\n  type filter hook forward priority 0;\n"
     "  tcp dport 5061 acept\n }\n}\n", None, 4, "Error: syntax error"),
    ("typo.rules", "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -p tcp --dport 5061 -j ACCEPT\n"
     "-A FORWARD -p tcp --dporrt 22 -j ACCEPT\nCOMMIT\n", None, 4, 'unknown option "--dporrt"'),
    ("jump.rules", "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j NOSUCHCHAIN\nCOMMIT\n", None, 4,
     "Chain 'NOSUCHCHAIN' does not exist"),
    ("forced.rules", (POLICIES / "inside-correct.iptables").read_text(), "nft", 2,
     "Error: syntax error"),
    ("reserved.nft", f"table inet {TRACE_TABLE} {{\n}}\n", None, 1, "reserved"),
])
def test_bad_policy_is_refused_before_anything_is_built(
        tmp_path: Path, name: str, text: str, fmt: str | None, line: int, says: str) -> None:
    policy = tmp_path / name
    policy.write_text(text)
    args = ["--policy", f"fw-inside={policy}"] + (["--format", fmt] if fmt else [])
    code, err = run_check(*args)
    assert code == 2
    assert f"{policy}:{line}:" in err
    assert says in err
    assert "fix:" in err


def test_unknown_firewall_and_missing_file(tmp_path: Path) -> None:
    code, err = run_check("--policy", f"cms={POLICIES / 'inside-correct.iptables'}")
    assert code == 2 and "cms is not a firewall" in err
    code, err = run_check("--policy", f"fw-inside={tmp_path / 'nothing.nft'}")
    assert code == 2 and "policy file not found" in err


def test_outputs_and_nothing_left(tmp_path: Path) -> None:
    """The baselines pass; JSON in the issue's format, JUnit XML, the raw traces."""
    lab = lab_name()
    out = tmp_path / "out"
    code = main(["firewall", "check", "--name", lab, "--json", str(out / "r.json"),
                 "--junit", str(out / "r.xml"), "--traces", str(out / "traces")])
    assert code == 0
    assert_gone(lab)
    report = json.loads((out / "r.json").read_text())
    assert report["verdict"] == "pass" and report["over_permissive"] == []
    assert [f["id"] for f in report["flows"]] == ["F1", "F2", "F3", "F4", "F5", "F6", "F7"]
    for f in report["flows"]:
        assert {"id", "status", "rule", "step"} <= set(f)
        assert f["status"] == "passed" and f["handle"] is not None and f["step"] is None
        assert f["judged_by"] == "share"  # the real call opened every flow
    assert report["share"]["ladder"] == "PASS: all 33 steps of flow.md §3 seen in order"
    assert report["share"]["call"] == "ended" and report["share"]["problems"] == []
    assert (report["step_source"], report["first_broken_step"]) == ("ladder", None)
    suite = ET.fromstring((out / "r.xml").read_text())
    n_probes = len(probes(topology.load()))
    assert suite.get("tests") == str(7 + n_probes) and suite.get("failures") == "0"
    lines = (out / "traces" / "fw-inside.trace").read_text().splitlines()
    assert any("inet filter forward rule" in ln and "(verdict accept)" in ln for ln in lines)
    assert json.loads((out / "traces" / "fw-inside.ruleset.json").read_text())["nftables"]


def test_quick_mode_makes_connection_attempts_only(tmp_path: Path) -> None:
    """--quick: no daemons, no share; the ladder step is the flow table's prediction."""
    lab = lab_name()
    out = tmp_path / "r.json"
    code = main(["firewall", "check", "--quick", "--name", lab, "--json", str(out),
                 "--policy", f"fw-inside={POLICIES / 'inside-3478-connlimit.nft'}"])
    assert code == 1
    assert_gone(lab)
    report = json.loads(out.read_text())
    assert report["share"] is None and report["step_source"] == "flow table"
    assert report["first_broken_step"].startswith("19 ")
    f5 = next(f for f in report["flows"] if f["id"] == "F5")
    assert [(c["connection"], c["status"], c["source"]) for c in f5["connections"]] == [
        ("tcp 10.48.54.230:33347 -> 10.48.54.229:3478", "passed", "attempt"),
        ("tcp 10.48.54.230:33348 -> 10.48.54.229:3478", "blocked", "attempt")]


def test_a_topology_with_other_addresses_is_judged_at_its_addresses(tmp_path: Path) -> None:
    """A firewall owner's own addressing: the flows, the probes and the lab follow the
    topology; the baseline rendered for it passes, the default lab's inside policy (written for
    10.48.54.0/24) blocks every inside flow."""
    topo = readdressed_topology(tmp_path)
    out, lab = tmp_path / "r.json", lab_name()
    code = main(["firewall", "check", "--quick", "--topology", str(topo), "--name", lab,
                 "--json", str(out)])
    assert_gone(lab)
    report = json.loads(out.read_text())
    assert (code, report["verdict"], report["over_permissive"]) == (0, "pass", [])
    f5 = next(f for f in report["flows"] if f["id"] == "F5")
    assert f5["connections"][0]["connection"] == "tcp 10.20.30.230:33347 -> 10.20.30.229:3478"
    stale = topology.TOPOLOGY_DIR / "policies" / "fw-inside.nft"
    code = main(["firewall", "check", "--quick", "--topology", str(topo), "--name", lab,
                 "--json", str(out), "--policy", f"fw-inside={stale}"])
    assert_gone(lab)
    report = json.loads(out.read_text())
    assert code == 1
    assert {f["id"]: f["status"] for f in report["flows"]} == {
        "F1": "passed", "F2": "passed", "F3": "blocked", "F4": "blocked", "F5": "blocked",
        "F6": "passed", "F7": "passed"}


def test_failing_check_reports_junit_failures(tmp_path: Path) -> None:
    junit = tmp_path / "r.xml"
    code = main(["firewall", "check", "--name", lab_name(), "--junit", str(junit),
                 "--policy", f"fw-inside={POLICIES / 'inside-traversal-wrong-direction.nft'}"])
    assert code == 1
    suite = ET.fromstring(junit.read_text())
    failed = {c.get("name", "").split()[0]: c.find("failure") for c in suite
              if c.find("failure") is not None}
    assert set(failed) == {"F3", "I1"}
    f3 = failed["F3"]
    assert f3 is not None and "3 INVITE over the traversal zone" in (f3.text or "")


def test_a_drop_before_the_trace_point_is_not_seen_and_noted(tmp_path: Path) -> None:
    policy = tmp_path / "early.nft"
    policy.write_text((POLICIES / "inside-baseline-like.nft").read_text() + (
        "table inet early {\n\tchain pre {\n\t\ttype filter hook prerouting priority raw; "
        "policy accept;\n\t\ttcp dport 3478 drop\n\t\ttcp dport 443 drop\n\t}\n}\n"))
    report = check({"fw-inside": policy}, lab=lab_name())
    assert {f.spec.id: f.status for f in report.flows}["F5"] == "not seen"
    assert report.verdict == "fail"
    assert report.notes[0] == ("fw-inside: chain inet early pre (hook prerouting, priority "
                               "-300) runs before the lab's trace point (prerouting, priority "
                               "-199); a flow it drops shows as 'not seen'")
    # the share never saw its Allocate through, so F5 was tried by attempts too: not seen either
    assert "F5: the share did not open all its connections (it stopped before needing them); " \
        "judged by connection attempts made after it" in report.notes
    assert report.share is not None and report.share["stopped_at"] == 6
    # probe I6 (DMZ to CMS 443) too: sent three times, never traced, not judged
    assert {p.probe.id: p.status for p in report.probes}["I6"] == "not seen"
    assert ("I6: sent 3 times from expressway-e, never traced at fw-inside: not judged "
            "(dropped before the trace point, or lost)") in report.notes


def test_traffic_is_pluggable_and_a_failure_leaves_nothing(tmp_path: Path) -> None:
    """The hook a screen-share run uses: its own traffic and the ladder step it stopped at."""
    seen: list[str] = []

    def quiet(ctx: BuildContext, specs: tuple[FlowSpec, ...]) -> RunOutcome:
        seen.append(ctx.lab)
        return RunOutcome(ladder_step=6)

    lab = lab_name()
    report = check({}, lab=lab, traffic=Traffic(quiet, ("network", "nftables")))
    assert seen == [lab]
    assert_gone(lab)
    assert {f.status for f in report.flows} == {"not seen"}
    assert report.verdict == "fail"
    assert report.to_json()["first_broken_step"].startswith("6 ")
    assert report.to_json()["step_source"] == "ladder"

    def broken(ctx: BuildContext, specs: tuple[FlowSpec, ...]) -> RunOutcome:
        raise LabError("the run failed")

    lab = lab_name()
    with pytest.raises(LabError, match="the run failed"):
        check({}, lab=lab, traffic=Traffic(broken, ("network", "nftables")))
    assert_gone(lab)


def test_trace_session_on_a_running_lab() -> None:
    """Start tracing in a lab that is up, make a connection, stop: the packet and the rule."""
    with running_lab(steps=BARE) as ctx:
        specs = flow_specs(ctx.topology)
        nodes = judged_nodes(specs, probes(ctx.topology))
        with TraceSession(ctx.lab, nodes, limit=30) as session:
            with listen(ctx, "expressway-e", "10.48.54.229", 3478):
                local = connect(ctx, "cms", ("10.48.54.229", 3478), src=("10.48.54.230", 33347))
            chosen = [p for p in probes(ctx.topology) if p.id in ("I1", "O6")]
            tries = probe_until_seen(ctx.lab, session, specs, chosen, wait=0.2)
            traces = session.stop()
            raw = {n: session.lines(n) for n in ("fw-outside", "fw-inside")}
        assert local == ("10.48.54.230", 33347)
        ours = [p for p in traces["fw-inside"] if p.tuple and p.tuple.sport == 33347]
        assert ours and ours[0].tcp_flags == "syn"
        decision = ours[0].decision
        assert decision is not None and decision.verdict == "accept"
        assert decision.handle is not None and "F5" in (decision.rule or "")
        report = judge(traces, specs, probes(ctx.topology))
        by_id = {f.spec.id: f for f in report.flows}
        assert by_id["F5"].status == "passed" and by_id["F1"].status == "not seen"
        assert {p.probe.id: p.status for p in report.probes if p.status != "not seen"} == {
            "I1": "blocked", "O6": "blocked"}, (tries, raw)
        assert never_seen(tries, chosen, traces, specs) == []
        # the monitors are gone; the tracing table stays until removed
        assert all(processes.pids_in_netns(ctx.ns(n)) == [] for n in nodes)
        ns = ctx.ns("fw-inside")
        assert TRACE_TABLE in nftables.list_rulesets([ns])[ns]
        session.remove_table()
        assert TRACE_TABLE not in nftables.list_rulesets([ns])[ns]


def test_monitor_stops_by_itself_and_probe_routes_are_removed() -> None:
    with running_lab(steps=BARE) as ctx:
        proc = nftables.start_trace_monitor(ctx.ns("fw-inside"), 0.5)
        try:
            deadline = time.monotonic() + 5
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proc.poll() is not None
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()

        def routes() -> str:
            return subprocess.run(["ip", "-n", ctx.ns("sfb-edge"), "route"], capture_output=True,
                                  text=True, check=True, timeout=10).stdout

        before = routes()
        sent = send_probes(ctx.lab, [p for p in probes(ctx.topology) if p.via is not None],
                           wait=0.05)
        assert sent and all(s.error is None for s in sent)
        assert routes() == before
        assert "10.48.54" not in before
