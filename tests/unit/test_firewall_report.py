"""Flows, probes, classification and the report, from real traces (no kernel needed)."""

from __future__ import annotations

from ipaddress import IPv4Address
from xml.etree import ElementTree as ET

from lab import topology
from lab.firewall.check import never_seen, probe_until_seen
from lab.firewall.flows import Probe, classify, flow_specs, opens_connection, probes
from lab.firewall.policy import rule_names
from lab.firewall.report import judge
from lab.firewall.trace import FiveTuple, PacketTrace, parse
from lab.firewall.traffic import ProbeSent, plan
from lab.lifecycle.policies import Policy
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


class _LateFirewall:
    """Traces a probe only from its ``late``-th sending on (a packet that arrived too late for
    the first look), and never traces the probes in ``lost``."""

    def __init__(self, late: int, lost: set[str]) -> None:
        self.late, self.lost = late, lost
        self.sendings: list[list[str]] = []
        self.traced: dict[str, list[PacketTrace]] = {}

    def send(self, lab: str, sent: list[Probe], *, wait: float) -> list[ProbeSent]:
        self.sendings.append([p.id for p in sent])
        out = []
        for p in sent:
            port = 40000 + len(self.sendings)
            if len(self.sendings) >= self.late and p.id not in self.lost:
                five = FiveTuple(p.proto, p.src, port, p.dst, p.dport)
                self.traced.setdefault(p.firewall, []).append(
                    PacketTrace(f"{p.id}{port}", tuple=five, tcp_flags="syn"))
            out.append(ProbeSent(p, port, "ENETUNREACH" if p.id in self.lost else None))
        return out

    def snapshot(self) -> dict[str, list[PacketTrace]]:
        return {k: list(v) for k, v in self.traced.items()}


def test_a_probe_not_traced_is_sent_again_and_a_lost_one_is_noted() -> None:
    chosen = [p for p in PROBES if p.id in ("I1", "O6", "O7")]
    fw = _LateFirewall(late=2, lost={"O7"})
    tries = probe_until_seen("lab", fw, SPECS, chosen, wait=0.0, rounds=3, send=fw.send)
    assert fw.sendings == [["O6", "O7", "I1"], ["O6", "O7", "I1"], ["O7"]]
    assert {k: len(v) for k, v in tries.items()} == {"O6": 2, "O7": 3, "I1": 2}
    notes = never_seen(tries, chosen, fw.snapshot(), SPECS)
    assert notes == ["O7: sent 3 times from sfb-edge, never traced at fw-outside (the sender "
                     "said: ENETUNREACH): not judged (dropped before the trace point, or lost)"]
    prompt = _LateFirewall(late=1, lost=set())
    probe_until_seen("lab", prompt, SPECS, chosen, wait=0.0, send=prompt.send)
    assert prompt.sendings == [["O6", "O7", "I1"]]
    assert never_seen(tries, chosen, prompt.snapshot(), SPECS) == []
