"""``uclab firewall check``: a firewall policy judged by real traffic.

    report = check(policies)                                   # the real screen share
    report = check(policies, traffic=connection_attempts())    # --quick: attempts only

The pieces, each usable on its own:

    from lab.firewall import (TraceSession, check, flow_specs, judge, probe_until_seen,
                              probes, rule_names)
    ctx = build.up(topo, lab, policies={"fw-inside": Path("fw.rules")},   # InputError first
                   steps=lab_steps(traffic))
    names = rule_names(ctx.policies, loaded_rulesets(lab, nodes))
    specs, sent = flow_specs(topo), probes(topo)                      # at its addresses
    with TraceSession(lab, judged_nodes(specs, sent)) as session:     # trace new connections
        ...                                                           # any traffic
        probe_until_seen(lab, session, specs, sent)                   # flows not needed
        traces = session.stop()
    report = judge(traces, specs, sent, names=names, ladder_step=None)
    report.verdict, report.to_json(), report.to_junit()

Policies are read, checked and loaded by :mod:`lab.lifecycle.policies`. Modules:
:mod:`.policy` (rule names, early chains), :mod:`.iptables` (iptables-save lines back from nft
handles), :mod:`.tracing` (tracing table and monitors),
:mod:`.trace` (parsing ``nft monitor trace``), :mod:`.flows` (required flows, probes,
classification), :mod:`.traffic` (connection attempts and probes), :mod:`.report` (verdicts,
JSON, JUnit), :mod:`.check` (the command's orchestration; the screen share runs through
:func:`lab.run.run_built`).
"""

from lab.firewall.check import (
    DEFAULT_LAB,
    RunOutcome,
    Traffic,
    check,
    connection_attempts,
    judged_nodes,
    lab_steps,
    never_seen,
    probe_until_seen,
    screen_share,
    unopened,
)
from lab.firewall.flows import FlowSpec, Probe, classify, flow_specs, probes
from lab.firewall.policy import RuleNames, loaded_rulesets, rule_names
from lab.firewall.report import Report, judge
from lab.firewall.trace import PacketTrace, parse
from lab.firewall.tracing import TraceSession
from lab.firewall.traffic import send_probes

__all__ = [
    "DEFAULT_LAB",
    "FlowSpec",
    "PacketTrace",
    "Probe",
    "Report",
    "RuleNames",
    "RunOutcome",
    "TraceSession",
    "Traffic",
    "check",
    "classify",
    "connection_attempts",
    "flow_specs",
    "judge",
    "judged_nodes",
    "lab_steps",
    "loaded_rulesets",
    "never_seen",
    "parse",
    "probe_until_seen",
    "probes",
    "rule_names",
    "screen_share",
    "send_probes",
    "unopened",
]
