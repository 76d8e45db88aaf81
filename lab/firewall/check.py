"""``uclab firewall check``: a lab with the owner's policies, traffic, traces, a report.

    report = check({"fw-outside": Path("out.nft"), "fw-inside": Path("in.rules")})

Steps: read and validate the policies (InputError before anything is built), bring a lab up
with them (``up`` rolls back by itself on failure), start tracing in the firewalls and the NAT,
make the traffic, send the probes (again, up to three times, each one its firewall did not
trace), stop tracing, read the rules back (iptables lines), tear the lab down, judge.

The traffic is a parameter. By default it is the real screen share (:func:`screen_share`):
the node daemons start *under* tracing (Expressway-C's traversal zone is opened then), the
Skype client shares into the CMS meeting, CMS hangs up, and the run's ladder, computed from
its capture, says which step broke first. A call that stops early never opens some flows
(no ConnectionBind without a relayed connection, no BYE from Expressway-E without a call):
each flow whose connections the share did not all open is then judged by connection attempts
made for it right after the share, and reported as such. :func:`connection_attempts` (``uclab
firewall check --quick``) makes only those attempts, in a lab without daemons: about a second,
no ladder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Protocol

from lab import topology
from lab.base.errors import LabError
from lab.daemons import supervisor
from lab.firewall.flows import FlowSpec, Probe, classify, flow_specs, probes
from lab.firewall.policy import early_chains, loaded_rulesets, rule_names
from lab.firewall.report import Report, judge
from lab.firewall.trace import FiveTuple, PacketTrace
from lab.firewall.tracing import TraceSession
from lab.firewall.traffic import AttemptResult, ProbeSent, drive, plan, send_probes
from lab.lifecycle import build, teardown
from lab.lifecycle.context import BuildContext, Step
from lab.lifecycle.policies import Format

log = logging.getLogger(__name__)

DEFAULT_LAB = "fwcheck"
#: The share of a firewall check: short media, a short wait for the BYE's answer (a policy
#: that blocks F2 makes it fail), the daemons' long timers five times faster (CMS gives up
#: TURN after 2 s instead of 10 s).
SHARE_MEDIA_S, SHARE_HANGUP_S, SHARE_TIME_SCALE = 0.3, 3.0, 0.2
#: Rounds of sending a probe that its firewall has not traced yet (each waits twice as long).
PROBE_ROUNDS = 3


@dataclass(frozen=True)
class RunOutcome:
    """What the traffic maker says about its run: the ladder step it stopped at, if it ran the
    call (None: not known, the report predicts it from the blocked flows), and what it did."""

    ladder_step: int | None = None
    attempts: tuple[AttemptResult, ...] = ()
    share: dict[str, Any] | None = None  # the share's ladder summary, problems, diagnosis


@dataclass(frozen=True)
class Traffic:
    """Who makes the traffic: ``run(ctx, specs)`` while tracing, and the build steps of
    :data:`lab.lifecycle.build.STEPS` the lab needs for it (None: all of them, daemons included).
    ``complement``: flows the traffic did not open in full get connection attempts after it.
    ``made_by`` names the traffic's connections in the report."""

    run: Callable[[BuildContext, tuple[FlowSpec, ...]], RunOutcome]
    build_steps: tuple[str, ...] | None = None
    complement: bool = False
    made_by: str = "traffic"


def connection_attempts(timeout: float = 0.8) -> Traffic:
    """Traffic without the call: a real TCP connection attempt per connection of each flow,
    in a lab without daemons (their listening ports would be taken)."""

    def run(ctx: BuildContext, specs: tuple[FlowSpec, ...]) -> RunOutcome:
        results = drive(ctx.lab, plan(ctx.topology, specs), timeout=timeout)
        return RunOutcome(attempts=tuple(results))

    return Traffic(run, ("network", "nftables"), made_by="attempt")


def screen_share(*, media_seconds: float = SHARE_MEDIA_S, time_scale: float = SHARE_TIME_SCALE
                 ) -> Traffic:
    """The real call (:func:`lab.run.run_built`): the daemons start under tracing, the share,
    the hang-up from CMS, the ladder of its capture; then the daemons stop (the attempts and
    probes that follow use some of their ports)."""

    def run(ctx: BuildContext, specs: tuple[FlowSpec, ...]) -> RunOutcome:
        from lab import scenario  # noqa: PLC0415 - the run engine imports the firewall
        from lab.run import RunOptions, RunPlan, run_built  # noqa: PLC0415

        sc = scenario.load("screen-share")
        sc = dataclasses.replace(sc, topology=ctx.topology, limits=dataclasses.replace(
            sc.limits, hangup_seconds=SHARE_HANGUP_S))
        result = run_built(ctx, RunPlan(sc, ctx.topology, media_seconds=media_seconds,
                                        time_scale=time_scale), RunOptions(lab=ctx.lab))
        with ctx.state.locked():  # the call is over: attempts and probes need their ports
            supervisor.stop_daemons(ctx.state)
        ladder = result.ladder
        stopped = ladder.verdict.stopped_at if ladder else None
        share = {"ladder": ladder.verdict.summary if ladder else "no ladder",
                 "stopped_at": stopped,
                 "reasons": list(ladder.verdict.reasons) if ladder else [],
                 "diagnosis": result.diagnosis, "call": result.outcome.reached,
                 "problems": result.outcome.problems, "time_scale": time_scale}
        return RunOutcome(ladder_step=stopped, share=share)

    return Traffic(run, ("network", "nftables", "pki"), complement=True, made_by="share")


def lab_steps(traffic: Traffic) -> list[Step]:
    """The build steps the traffic needs."""
    return [step for step in build.STEPS
            if traffic.build_steps is None or step.name in traffic.build_steps]


def judged_nodes(specs: tuple[FlowSpec, ...], sent: tuple[Probe, ...] = ()) -> list[str]:
    """The nodes to trace: every node that judges a flow or a probe, in first-use order."""
    nodes = [s.judged_at for s in specs] + [p.firewall for p in sent]
    return list(dict.fromkeys(nodes))


def unopened(traces: Mapping[str, list[PacketTrace]], specs: tuple[FlowSpec, ...]
             ) -> tuple[FlowSpec, ...]:
    """The flows of which fewer connections were traced than the call needs (F5: two)."""
    found = classify(dict(traces), specs, ())
    return tuple(s for s in specs if len({p.tuple for p in found.flows[s.id]})
                 < len(s.connections))


class Snapshots(Protocol):
    def snapshot(self) -> dict[str, list[PacketTrace]]: ...


def probe_until_seen(lab: str, session: Snapshots, specs: tuple[FlowSpec, ...],
                     sent: Sequence[Probe], *, wait: float = 0.3, rounds: int = PROBE_ROUNDS,
                     send: Callable[..., list[ProbeSent]] = send_probes,
                     ) -> dict[str, list[ProbeSent]]:
    """Send the probes, and again (up to ``rounds`` times, waiting twice as long each time)
    each one its firewall has not traced: a probe never seen says nothing about the policy,
    and its packet can be late (an ARP resolution, a loaded machine) without being lost.
    Per probe id, every sending; a probe with ``rounds`` sendings was never seen."""
    left = list(sent)
    tries: dict[str, list[ProbeSent]] = {p.id: [] for p in sent}
    for i in range(rounds):
        for s in send(lab, left, wait=wait * 2 ** i):
            tries[s.probe.id].append(s)
        seen = classify(session.snapshot(), specs, left).probes
        left = [p for p in left if not seen[p.id]]
        if not left:
            break
        log.info("probes not traced after round %d: %s", i + 1, " ".join(p.id for p in left))
    return tries


def never_seen(tries: Mapping[str, list[ProbeSent]], sent: Sequence[Probe],
               traces: Mapping[str, list[PacketTrace]], specs: tuple[FlowSpec, ...]
               ) -> list[str]:
    """Report notes for the probes no firewall traced however often they were sent."""
    seen = classify(dict(traces), specs, sent).probes
    notes = []
    for p in sent:
        if seen[p.id] or not tries.get(p.id):
            continue
        errors = sorted({s.error for s in tries[p.id] if s.error})
        why = f" (the sender said: {', '.join(errors)})" if errors else ""
        notes.append(f"{p.id}: sent {len(tries[p.id])} times from {p.node}, never traced at "
                     f"{p.firewall}{why}: not judged (dropped before the trace point, or lost)")
    return notes


@dataclass
class _Made:
    outcome: RunOutcome = field(default_factory=RunOutcome)
    attempted: dict[str, frozenset[FiveTuple]] = field(default_factory=dict)


def _complement(ctx: BuildContext, session: TraceSession, specs: tuple[FlowSpec, ...],
                timeout: float) -> dict[str, frozenset[FiveTuple]]:
    """Connection attempts for the flows the traffic did not open in full; per flow, the
    5-tuples the attempts used."""
    missing = unopened(session.snapshot(), specs)
    if not missing:
        return {}
    results = drive(ctx.lab, plan(ctx.topology, missing, spare=True), timeout=timeout)
    tried: dict[str, set[FiveTuple]] = {s.id: set() for s in missing}
    for r in results:
        if r.local is not None:
            a = r.attempt
            tried[a.flow].add(FiveTuple("tcp", IPv4Address(r.local[0]), r.local[1],
                                        IPv4Address(a.dst[0]), a.dst[1]))
        log.info("%s %s (the share did not open it): %s", r.attempt.flow, r.attempt.label,
                 "connected" if r.connected else r.error)
    return {flow: frozenset(t) for flow, t in tried.items()}


def check(policies: Mapping[str, Path], fmt: Format | None = None, *, lab: str = DEFAULT_LAB,
          topology_name: str | Path | None = None, traffic: Traffic | None = None,
          probe_wait: float = 0.3, trace_limit: float = 120.0,
          attempt_timeout: float = 0.8, runtime: str = "netns") -> Report:
    """Check ``policies`` (firewall node -> file) against real traffic in lab ``lab``: by
    default the real screen share (:func:`screen_share`)."""
    topo = topology.load(topology_name)
    make_traffic = traffic or screen_share()
    made = _Made()
    specs, sent = flow_specs(topo), probes(topo)
    ctx = build.up(topo, lab, policies=policies, policy_format=fmt,
                   steps=lab_steps(make_traffic), runtime=runtime)
    try:
        nodes = judged_nodes(specs, sent)
        rulesets = loaded_rulesets(lab, nodes)
        names = rule_names(ctx.policies, rulesets)
        with TraceSession(lab, nodes, limit=trace_limit) as session:
            made.outcome = make_traffic.run(ctx, specs)
            if make_traffic.complement:
                made.attempted = _complement(ctx, session, specs, attempt_timeout)
            tries = probe_until_seen(lab, session, specs, sent, wait=probe_wait)
            traces = session.stop()
            raw = {node: session.lines(node) for node in session.nodes}
    finally:
        with contextlib.suppress(LabError):
            teardown.down(lab)
    outcome = made.outcome
    report = judge(traces, specs, sent, names=names, ladder_step=outcome.ladder_step,
                   made_by=make_traffic.made_by, attempted=made.attempted)
    report.raw_traces, report.rulesets, report.share = raw, rulesets, outcome.share
    report.notes = [f"{p.node}: chain {chain} runs before the lab's trace point (prerouting, "
                    "priority -199); a flow it drops shows as 'not seen'"
                    for p in ctx.policies for chain in early_chains(rulesets[p.node])]
    report.notes += never_seen(tries, sent, traces, specs)
    report.notes += [f"{flow}: the share did not open all its connections (it stopped before "
                     "needing them); judged by connection attempts made after it"
                     for flow in made.attempted]
    given = {p.node: p for p in ctx.policies}
    report.policies = {
        n.name: {"file": str(given[n.name].path), "format": given[n.name].format}
        if n.name in given else {"file": str(n.policy), "format": "nft (the lab's baseline)"}
        for n in topo.firewalls()}
    for a in outcome.attempts:
        log.info("%s %s: %s", a.attempt.flow, a.attempt.label,
                 "connected" if a.connected else a.error)
    return report
