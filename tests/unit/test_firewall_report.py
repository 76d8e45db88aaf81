"""Flows, probes, classification and the report, from real traces (no kernel needed)."""

from __future__ import annotations

from ipaddress import IPv4Address
from xml.etree import ElementTree as ET

from lab import topology
from lab.firewall.flows import classify, flow_specs, opens_connection, probes
from lab.firewall.policy import Policy, rule_names
from lab.firewall.report import judge
from lab.firewall.trace import FiveTuple, PacketTrace, parse
from lab.firewall.traffic import plan
from tests.firewallhelp import POLICIES, TRACES

TOPO = topology.load()
SPECS = flow_specs(TOPO)
PROBES = probes(TOPO)


def traces(folder: str) -> dict[str, list[PacketTrace]]:
    return {n: parse((TRACES / folder / f"{n}.trace").read_text().splitlines())
            for n in ("fw-outside", "fw-inside", "sfb-nat")}


def test_flow_specs_and_the_plan() -> None:
    judged = {s.id: s.judged_at for s in SPECS}
    assert judged == {"F1": "fw-outside", "F2": "fw-outside", "F3": "fw-inside",
                      "F4": "fw-inside", "F5": "fw-inside", "F6": "fw-outside", "F7": "sfb-nat"}
    f5 = next(s for s in SPECS if s.id == "F5")
    assert [step for _, step in f5.connections] == [6, 19]
    rounds = plan(TOPO, SPECS)
    assert [len(r) for r in rounds] == [7, 1]
    second = rounds[1][0]
    assert (second.flow, second.node, second.src, second.dst_node, second.dst) == (
        "F5", "cms", ("10.48.54.230", 33348), "expressway-e", ("10.48.54.229", 3478))
    f6 = next(a for a in rounds[0] if a.flow == "F6")
    assert f6.src == ("192.168.1.252", 53577) and f6.dst == ("192.168.1.229", 24000)


def test_probes_are_never_required_flows() -> None:
    assert len({p.id for p in PROBES}) == len(PROBES)
    for p in PROBES:
        five = FiveTuple(p.proto, p.src, p.sport or 40000, p.dst, p.dport)
        assert not any(s.matches(five) for s in SPECS), p.id
        node = TOPO.node(p.node)
        assert p.src in node.addresses, p.id
        assert p.firewall in {n.name for n in TOPO.firewalls()}


def test_only_opening_packets_are_classified() -> None:
    syn_ack = PacketTrace("x", tuple=FiveTuple("tcp", IPv4Address("10.48.54.230"), 33347,
                                               IPv4Address("10.48.54.229"), 3478),
                          tcp_flags="(syn | ack)")
    assert not opens_connection(syn_ack)
    found = classify({"fw-inside": [syn_ack]}, SPECS, PROBES)
    assert found.flows["F5"] == [] and found.other == []
    syn = PacketTrace("y", tuple=syn_ack.tuple, tcp_flags="syn")
    assert classify({"fw-outside": [syn]}, SPECS, PROBES).other  # the wrong firewall for F5
    assert classify({"fw-inside": [syn]}, SPECS, PROBES).flows["F5"] == [syn]


def test_report_of_a_failing_pair() -> None:
    """outside-missing-f2.iptables + inside-3478-connlimit.nft, from their real traces."""
    ruleset = (TRACES / "reject-nft" / "fw-outside.ruleset.json").read_text()
    names = rule_names((Policy("fw-outside", POLICIES / "outside-missing-f2.iptables",
                               "iptables"),), {"fw-outside": ruleset})
    report = judge(traces("reject-nft"), SPECS, PROBES, names=names)
    status = {f.spec.id: f.status for f in report.flows}
    assert status == {"F1": "passed", "F2": "blocked", "F3": "passed", "F4": "passed",
                      "F5": "blocked", "F6": "passed", "F7": "passed"}
    assert report.verdict == "fail" and report.over_permissive == []
    assert report.first_broken_step == 19  # F2 breaks no canonical step
    data = report.to_json()
    f2 = next(f for f in data["flows"] if f["id"] == "F2")
    assert f2["rule"] == "-A FORWARD -j REJECT --reject-with icmp-admin-prohibited"
    assert (f2["source_line"], f2["verdict"], f2["step"]) == (10, "reject", None)
    f5 = next(f for f in data["flows"] if f["id"] == "F5")
    assert f5["step"] == "19 ConnectionBind on a new TCP connection to 3478"
    assert [c["status"] for c in f5["connections"]] == ["passed", "blocked"]
    assert data["first_broken_step"].startswith("19 ")
    suite = ET.fromstring(report.to_junit())
    assert suite.get("failures") == "2"


def test_report_of_an_open_pair() -> None:
    report = judge(traces("any-any"), SPECS, PROBES)
    assert all(f.status == "passed" for f in report.flows)
    assert sorted(p.probe.id for p in report.over_permissive) == sorted(p.id for p in PROBES)
    assert report.verdict == "fail"
    data = report.to_json()
    assert {"verdict", "flows", "over_permissive"} <= set(data)
    o1 = next(p for p in data["over_permissive"] if p["id"] == "O1")
    assert "TEMP any any" in o1["rule"] and o1["status"] == "passed"
    assert ET.fromstring(report.to_junit()).get("failures") == str(len(PROBES))


def test_nothing_traced_is_not_seen_and_fails() -> None:
    report = judge({}, SPECS, PROBES, ladder_step=6)
    assert {f.status for f in report.flows} == {"not seen"}
    assert {p.status for p in report.probes} == {"not seen"}
    assert report.verdict == "fail" and report.first_broken_step == 6


def test_an_answer_dropped_blocks_the_connection() -> None:
    """inside-stateless.iptables: the SYN passes, the SYN+ACK meets FORWARD's drop policy."""
    path = POLICIES / "inside-stateless.iptables"
    ruleset = (TRACES / "stateless" / "fw-inside.ruleset.json").read_text()
    names = rule_names((Policy("fw-inside", path, "iptables"),), {"fw-inside": ruleset})
    report = judge(traces("stateless"), SPECS, PROBES, names=names)
    flows = {f.spec.id: f for f in report.flows}
    f3 = flows["F3"].decider
    assert flows["F3"].status == "blocked" and f3 is not None and f3.answer_dropped
    assert f3.explain() == ("blocked: its answer (SYN+ACK) was dropped by :FORWARD DROP "
                            "(line 5)")
    assert flows["F3"].step == 3 and flows["F4"].step == 5
    assert flows["F5"].status == "passed"
    assert not any(c.answer_dropped for c in flows["F5"].connections)
