"""Judging traced traffic: per required flow ``passed`` / ``blocked`` / ``not seen`` with the
rule that decided, the probes a policy let through (over-permissive), the verdict; as JSON (the
issue's format, with more detail beside it) and JUnit XML.

    report = judge(traces, flow_specs(topo), probes(topo), names=prep.rule_names(lab))
    report.verdict                    # "pass" | "fail"
    report.to_json(); report.to_junit()

A connection is ``passed`` if one of its traced packets was accepted (a retransmitted SYN may
meet a rate limit that has room again), ``blocked`` if every one was dropped or rejected. A flow
is ``blocked`` as soon as one of its connections is (F5 needs both of its connections), ``not
seen`` if none was traced. The verdict is ``pass`` only if every flow passed and no probe got
through.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from xml.etree import ElementTree as ET

from lab.firewall.flows import FlowSpec, Probe, classify
from lab.firewall.trace import Decision, FiveTuple, PacketTrace

Status = Literal["passed", "blocked", "not seen"]


@dataclass(frozen=True)
class NamedRule:
    """A deciding rule in its owner's words: nft rule text (or chain policy), or the
    iptables-save line and its line number."""

    text: str
    line: int | None = None


class RuleNamer(Protocol):
    def name(self, node: str, d: Decision) -> NamedRule: ...


class _NftNames:
    def name(self, node: str, d: Decision) -> NamedRule:
        return NamedRule(d.text)


@functools.cache
def step_name(number: int) -> str:
    """``6 TURN Allocate request without credentials`` (flow.md §3, lab/ladder/steps.py)."""
    from lab.ladder.steps import BY_NUMBER  # noqa: PLC0415 - the ladder package is large

    return f"{number} {BY_NUMBER[number].name}"


@dataclass(frozen=True)
class Connection:
    """One connection of a flow, as traced: its packets' fate."""

    tuple: FiveTuple
    label: str
    step: int | None
    decision: Decision | None  # the accepting one if any, else the first packet's
    packets: int
    named: NamedRule | None
    answer_dropped: bool = False  # the SYN got through, its SYN+ACK did not
    source: str = "traffic"  # what made it: "share" (the real call) or "attempt"

    @property
    def status(self) -> Status:
        if self.decision is None:
            return "not seen"
        return "passed" if self.decision.verdict == "accept" else "blocked"

    @property
    def rule(self) -> str | None:
        """The deciding rule as its owner wrote it, with where to find it."""
        if self.named is None or self.decision is None:
            return None
        where = []
        if self.named.line is not None:
            where.append(f"line {self.named.line}")
        if self.decision.handle is not None:
            where.append(f"handle {self.decision.handle}")
        return self.named.text + (f" ({', '.join(where)})" if where else "")

    def explain(self) -> str:
        """``passed by RULE``, ``blocked by RULE``, ``blocked: its answer ... by RULE``."""
        if self.status == "not seen":
            return "not seen"
        if self.answer_dropped:
            return f"blocked: its answer (SYN+ACK) was dropped by {self.rule}"
        return f"{self.status} by {self.rule}"


@dataclass(frozen=True)
class FlowResult:
    spec: FlowSpec
    status: Status
    connections: tuple[Connection, ...]
    decider: Connection | None  # the connection whose rule is reported

    @property
    def step(self) -> int | None:
        """The ladder step this flow's block breaks (None unless blocked)."""
        return self.decider.step if self.status == "blocked" and self.decider else None


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    status: Status
    connection: Connection | None

    @property
    def over_permissive(self) -> bool:
        return self.status == "passed"


def _fate(packets: list[PacketTrace]) -> Decision | None:
    """The accepting decision if one packet got through, else the first packet's."""
    decisions = [d for p in packets if (d := p.decision) is not None]
    accepted = [d for d in decisions if d.verdict == "accept"]
    return accepted[0] if accepted else (decisions[0] if decisions else None)


def _connections(node: str, packets: list[PacketTrace], answers: list[PacketTrace],
                 spec: FlowSpec | None, names: RuleNamer, *, source: str = "traffic"
                 ) -> list[Connection]:
    by_tuple: dict[FiveTuple, list[PacketTrace]] = {}
    for p in packets:
        assert p.tuple is not None
        by_tuple.setdefault(p.tuple, []).append(p)
    answers_to: dict[FiveTuple, list[PacketTrace]] = {}
    for a in answers:
        assert a.tuple is not None
        answers_to.setdefault(a.tuple.reversed(), []).append(a)
    out = []
    for index, (five, group) in enumerate(by_tuple.items()):
        decision = _fate(group)
        answer = _fate(answers_to.get(five, []))
        dropped = (decision is not None and decision.verdict == "accept" and answer is not None
                   and answer.verdict != "accept")
        if dropped:
            decision = answer
        label, step = spec.connection(index) if spec else ("probe", None)
        out.append(Connection(five, label, step, decision, len(group),
                              names.name(node, decision) if decision else None, dropped,
                              source))
    return out


def _flow(spec: FlowSpec, packets: list[PacketTrace], answers: list[PacketTrace],
          names: RuleNamer, *, made_by: str, attempted: frozenset[FiveTuple] | None
          ) -> FlowResult:
    """A flow's verdict from its traced connections; a flow the traffic did not open in full
    (``attempted``: the check's own connection attempts for it) is judged by those alone."""
    source = made_by
    if attempted is not None:
        packets = [p for p in packets if p.tuple in attempted]
        answers = [a for a in answers if a.tuple is not None
                   and a.tuple.reversed() in attempted]
        source = "attempt"
    conns = tuple(_connections(spec.judged_at, packets, answers, spec, names, source=source))
    blocked = [c for c in conns if c.status == "blocked"]
    if blocked:
        return FlowResult(spec, "blocked", conns, blocked[0])
    judged = [c for c in conns if c.status == "passed"]
    if judged:
        return FlowResult(spec, "passed", conns, judged[0])
    return FlowResult(spec, "not seen", conns, None)


@dataclass
class Report:
    flows: list[FlowResult]
    probes: list[ProbeResult]
    other: list[tuple[str, Connection]] = field(default_factory=list)
    policies: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> path, format
    ladder_step: int | None = None  # the step the run's ladder stopped at, if a run was made
    raw_traces: dict[str, list[str]] = field(default_factory=dict)  # node -> trace lines
    rulesets: dict[str, str] = field(default_factory=dict)  # node -> nft -j list ruleset
    notes: list[str] = field(default_factory=list)  # what may limit the judgement
    share: dict[str, Any] | None = None  # the screen share's run, when the traffic was one

    @property
    def over_permissive(self) -> list[ProbeResult]:
        return [p for p in self.probes if p.over_permissive]

    @property
    def verdict(self) -> Literal["pass", "fail"]:
        ok = all(f.status == "passed" for f in self.flows) and not self.over_permissive
        return "pass" if ok else "fail"

    @property
    def first_broken_step(self) -> int | None:
        """From the run's ladder when there was a run (None: the ladder passed), else the
        lowest step a blocked flow breaks (a prediction from the flow table)."""
        if self.ladder_step is not None or self.share is not None:
            return self.ladder_step
        steps = [f.step for f in self.flows if f.step is not None]
        return min(steps) if steps else None

    def to_json(self) -> dict[str, Any]:
        step = self.first_broken_step
        return {
            "verdict": self.verdict,
            "flows": [_flow_json(f) for f in self.flows],
            "over_permissive": [_probe_json(p) for p in self.over_permissive],
            "first_broken_step": step_name(step) if step is not None else None,
            "step_source": "ladder" if self.ladder_step is not None or self.share is not None
            else "flow table",
            "share": self.share,
            "probes": [_probe_json(p) for p in self.probes],
            "other_connections": [{"node": n, **_conn_json(c)} for n, c in self.other],
            "policies": self.policies,
            "notes": self.notes,
        }

    def to_junit(self) -> str:
        return junit(self)


def _decision_json(c: Connection | None) -> dict[str, Any]:
    d = c.decision if c else None
    named = c.named if c else None
    return {"rule": named.text if named else None,
            "handle": d.handle if d else None,
            "chain": d.where if d and not d.unfiltered else None,
            "verdict": d.verdict if d else None,
            "source_line": named.line if named else None,
            "answer_dropped": c.answer_dropped if c else False,
            "nft_rule": d.rule if d and named and named.line is not None else None}


def _conn_json(c: Connection) -> dict[str, Any]:
    return {"connection": str(c.tuple), "label": c.label, "status": c.status,
            **_decision_json(c), "packets": c.packets, "source": c.source}


def _flow_json(f: FlowResult) -> dict[str, Any]:
    step, decision = f.step, _decision_json(f.decider)
    judged_by = f.connections[0].source if f.connections else None
    return {"id": f.spec.id, "status": f.status, "rule": decision.pop("rule"),
            "step": step_name(step) if step is not None else None, **decision,
            "judged_by": judged_by,
            "firewall": f.spec.flow.firewall, "judged_at": f.spec.judged_at,
            "why": f.spec.flow.why, "connections": [_conn_json(x) for x in f.connections]}


def _probe_json(p: ProbeResult) -> dict[str, Any]:
    return {"id": p.probe.id, "firewall": p.probe.firewall, "status": p.status,
            "flow": p.probe.describe(), "why": p.probe.why, **_decision_json(p.connection)}


def judge(traces: Mapping[str, list[PacketTrace]], specs: Iterable[FlowSpec],
          probes: Iterable[Probe], *, names: RuleNamer | None = None,
          ladder_step: int | None = None, made_by: str = "traffic",
          attempted: Mapping[str, frozenset[FiveTuple]] | None = None) -> Report:
    """The report of a run from its traces, whoever made the traffic (``made_by``: "share",
    "attempt"); flows in ``attempted`` are judged by the check's own attempts for them."""
    specs, probes, namer = tuple(specs), tuple(probes), names or _NftNames()
    found = classify(dict(traces), specs, probes)
    tried = attempted or {}
    flows = [_flow(s, found.flows[s.id], found.flow_answers[s.id], namer, made_by=made_by,
                   attempted=tried.get(s.id)) for s in specs]
    results = []
    for p in probes:
        # a probe is judged by its first packet: a policy that lets it in is too open, even
        # if it drops the answer
        conns = _connections(p.firewall, found.probes[p.id], [], None, namer)
        passed = [c for c in conns if c.status == "passed"]
        pick = passed[0] if passed else (conns[0] if conns else None)
        results.append(ProbeResult(p, pick.status if pick else "not seen", pick))
    other = [(node, c) for node, pkt in found.other
             for c in _connections(node, [pkt], [], None, namer)]
    return Report(flows, results, other, ladder_step=ladder_step)


def junit(report: Report) -> str:
    """JUnit XML: one test case per required flow and one per probe (a probe fails when the
    policy lets it through)."""
    suite = ET.Element("testsuite", name="uclab firewall check")
    failures = 0
    for f in report.flows:
        case = ET.SubElement(suite, "testcase", classname=f"firewall.{f.spec.judged_at}",
                             name=f"{f.spec.id} {f.spec.flow.why}")
        if f.status != "passed":
            failures += 1
            c = f.decider
            text = f"{f.spec.id} {f.status}"
            if c is not None and c.rule:
                text = f"{f.spec.id} {c.explain()} ({c.label}, {c.tuple})"
            if f.step is not None:
                text += f"; breaks step {step_name(f.step)}"
            ET.SubElement(case, "failure", message=text, type=f.status).text = text
    for p in report.probes:
        case = ET.SubElement(suite, "testcase", classname=f"firewall.{p.probe.firewall}",
                             name=f"{p.probe.id} closed: {p.probe.describe()} ({p.probe.why})")
        if p.over_permissive:
            failures += 1
            rule = p.connection.rule if p.connection else None
            text = f"over-permissive: {p.probe.describe()} let through by {rule}"
            ET.SubElement(case, "failure", message=text, type="over-permissive").text = text
    suite.set("tests", str(len(report.flows) + len(report.probes)))
    suite.set("failures", str(failures))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode")


def dumps(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2) + "\n"
