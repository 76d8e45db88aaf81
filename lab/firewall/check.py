"""``uclab firewall check``: a lab with the owner's policies, traffic, traces, a report.

    report = check({"fw-outside": Path("out.nft"), "fw-inside": Path("in.rules")})

Steps: read and validate the policies (InputError before anything is built), bring a lab up
with them (``up`` rolls back by itself on failure), start tracing in the firewalls and the NAT,
make the traffic, send the probes, stop tracing, read the rules back (iptables lines), tear the
lab down, judge. The traffic is a parameter: by default one real TCP connection attempt per
connection each required flow opens (:func:`connection_attempts`); a caller that runs the real
screen share passes its own function, which may return the step the run's ladder stopped at.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lab import build, teardown, topology
from lab.build import BuildContext, Step
from lab.errors import LabError
from lab.firewall.flows import PROBES, FlowSpec, flow_specs
from lab.firewall.policy import Format, early_chains, loaded_rulesets, prepare
from lab.firewall.report import Report, judge
from lab.firewall.session import TraceSession
from lab.firewall.traffic import AttemptResult, drive, plan, send_probes

log = logging.getLogger(__name__)

DEFAULT_LAB = "fwcheck"


@dataclass(frozen=True)
class RunOutcome:
    """What the traffic maker says about its run: the ladder step it stopped at, if it ran the
    call (None: not known, the report predicts it from the blocked flows), and what it did."""

    ladder_step: int | None = None
    attempts: tuple[AttemptResult, ...] = ()


@dataclass(frozen=True)
class Traffic:
    """Who makes the traffic: ``run(ctx, specs)`` while tracing, and the build steps of
    :data:`lab.build.STEPS` the lab needs for it (None: all of them, daemons included)."""

    run: Callable[[BuildContext, tuple[FlowSpec, ...]], RunOutcome]
    build_steps: tuple[str, ...] | None = None


def connection_attempts(timeout: float = 0.8) -> Traffic:
    """Traffic without the call: a real TCP connection attempt per connection of each flow,
    in a lab without daemons (their listening ports would be taken)."""

    def run(ctx: BuildContext, specs: tuple[FlowSpec, ...]) -> RunOutcome:
        results = drive(ctx.lab, plan(ctx.topology, specs), timeout=timeout)
        return RunOutcome(attempts=tuple(results))

    return Traffic(run, ("network", "nftables"))


def lab_steps(traffic: Traffic, extra: list[Step]) -> list[Step]:
    """The build steps: those the traffic needs, with the policies' own steps (iptables
    restores) right after the ``nftables`` step."""
    out: list[Step] = []
    for step in build.STEPS:
        if traffic.build_steps is None or step.name in traffic.build_steps:
            out.append(step)
            if step.name == "nftables":
                out += extra
    return out


def judged_nodes(specs: tuple[FlowSpec, ...]) -> list[str]:
    """The nodes to trace: every node that judges a flow or a probe, in first-use order."""
    nodes = [s.judged_at for s in specs] + [p.firewall for p in PROBES]
    return list(dict.fromkeys(nodes))


def check(policies: Mapping[str, Path], fmt: Format | None = None, *, lab: str = DEFAULT_LAB,
          topology_name: str | Path | None = None, traffic: Traffic | None = None,
          probe_wait: float = 0.3, trace_limit: float = 120.0) -> Report:
    """Check ``policies`` (firewall node -> file) against real traffic in lab ``lab``."""
    topo = topology.load(topology_name)
    make_traffic = traffic or connection_attempts()
    with prepare(topo, policies, fmt) as prep:
        specs = flow_specs(prep.topology)
        ctx = build.up(prep.topology, lab, steps=lab_steps(make_traffic, prep.steps))
        try:
            nodes = judged_nodes(specs)
            rulesets = loaded_rulesets(lab, nodes)
            names = prep.rule_names(lab, rulesets)
            with TraceSession(lab, nodes, limit=trace_limit) as session:
                outcome = make_traffic.run(ctx, specs)
                send_probes(lab, PROBES, wait=probe_wait)
                traces = session.stop()
                raw = {node: session.lines(node) for node in session.nodes}
        finally:
            with contextlib.suppress(LabError):
                teardown.down(lab)
    report = judge(traces, specs, PROBES, names=names, ladder_step=outcome.ladder_step)
    report.raw_traces, report.rulesets = raw, rulesets
    report.notes = [f"{p.node}: chain {chain} runs before the lab's trace point (prerouting, "
                    "priority -199); a flow it drops shows as 'not seen'"
                    for p in prep.policies for chain in early_chains(rulesets[p.node])]
    given = {p.node: p for p in prep.policies}
    report.policies = {
        n.name: {"file": str(given[n.name].path), "format": given[n.name].format}
        if n.name in given else {"file": str(n.policy), "format": "nft (the lab's baseline)"}
        for n in topo.firewalls()}
    for a in outcome.attempts:
        log.info("%s %s: %s", a.attempt.flow, a.attempt.label,
                 "connected" if a.connected else a.error)
    return report
