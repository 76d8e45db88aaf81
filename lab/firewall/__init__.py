"""``uclab firewall check``: a firewall policy judged by real traffic (issue 7).

    report = check(policies)                                   # the real screen share
    report = check(policies, traffic=connection_attempts())    # --quick: attempts only

The pieces, each usable on its own:

    from lab.firewall import (TraceSession, check, flow_specs, judge, prepare,
                              probe_until_seen, probes)
    with prepare(topo, {"fw-inside": Path("fw.rules")}) as prep:         # validate, InputError
        ctx = build.up(prep.topology, lab, steps=lab_steps(traffic, prep.steps))
        names = prep.rule_names(lab)
        specs, sent = flow_specs(prep.topology), probes(prep.topology)  # at its addresses
        with TraceSession(lab, judged_nodes(specs, sent)) as session:     # trace new connections
            ...                                                           # any traffic
            probe_until_seen(lab, session, specs, sent)                   # flows not needed
            traces = session.stop()
        report = judge(traces, specs, sent, names=names, ladder_step=None)
    report.verdict, report.to_json(), report.to_junit()

Modules: :mod:`.policy` (formats, validation, loading, rule names), :mod:`.iptables`
(iptables-save lines back from nft handles), :mod:`.session` (tracing table and monitors),
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
from lab.firewall.policy import Policy, Prepared, RuleNames, detect_format, prepare
from lab.firewall.report import Report, judge
from lab.firewall.trace import PacketTrace, parse
from lab.firewall.tracing import TraceSession
from lab.firewall.traffic import send_probes

__all__ = [
    "DEFAULT_LAB",
    "FlowSpec",
    "PacketTrace",
    "Policy",
    "Prepared",
    "Probe",
    "Report",
    "RuleNames",
    "RunOutcome",
    "TraceSession",
    "Traffic",
    "check",
    "classify",
    "connection_attempts",
    "detect_format",
    "flow_specs",
    "judge",
    "judged_nodes",
    "lab_steps",
    "never_seen",
    "parse",
    "prepare",
    "probe_until_seen",
    "probes",
    "screen_share",
    "send_probes",
    "unopened",
]
