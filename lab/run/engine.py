"""The run engine behind ``uclab run``: a scenario from nothing to verdict and teardown.

    plan = RunPlan.of(scenario.load("screen-share"))
    result = run(plan, RunOptions(lab="uclab", pcap=Path("share.pcapng")))
    result.passed, result.ladder.verdict.summary, result.outcome.stats, result.timings

1. The lab: if it does not exist, ``uclab up`` with the capture started between the PKI and
   the daemons (so the capture holds every TLS handshake, the traversal zone included); if it
   exists (``uclab up`` earlier), its daemons are stopped, the capture started and the daemons
   started again. A failure here is a set-up error (:class:`SetupError`, exit code 2).
2. The call (:class:`lab.run.call.CallDriver`): the share is triggered on the Skype client's
   control socket, media must flow both ways, runs for the scenario's time, CMS hangs up.
3. The capture is stopped and merged (``node:iface``, TLS secrets embedded); the lab is taken
   down (if this run built it, unless ``keep``) while the ladder, the step check and the
   verdict are computed **from the capture** (:mod:`lab.ladder`), with the values the
   topology implies (:mod:`lab.run.expect`).
4. The scenario's expectations are judged (:func:`lab.run.expect.judge`).

A scenario reaches the run through :class:`RunPlan` (``RunPlan.of(scenario)``): the topology
with its overrides, firewall ``policies`` (nftables or iptables-save, checked by
:mod:`lab.lifecycle.policies` before anything is built and loaded by ``up``), ``faults``
(:mod:`lab.run.faults`, armed when the share starts) and ``time_scale`` (every daemon's long
timers). After the ladder, :func:`lab.run.diagnose.diagnose` says from the capture what went
wrong, and :func:`lab.run.expect.judge` holds it against the scenario's ``expect``.

:func:`run_built` runs the call in a lab the caller built without daemons and tears down
itself (``uclab firewall check``: tracing starts before the daemons).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lab import runtime as runtimes
from lab.base.errors import InputError, Interrupted, LabError, UclabError
from lab.base.names import DEFAULT_LAB, check_lab_name
from lab.base.state import LabState, RunDir
from lab.capture import LabCapture
from lab.daemons import supervisor
from lab.lifecycle import build, teardown
from lab.lifecycle.context import BuildContext, Step
from lab.run.call import CallDriver, CallOutcome
from lab.run.faults import Fault, faults_for
from lab.scenario import Scenario
from lab.topology import Topology

if TYPE_CHECKING:
    from lab.ladder import Ladder

log = logging.getLogger(__name__)

#: imported while the media runs (the CLI only waits then; earlier, the imports would take the
#: interpreter lock from the network's build and the daemons' start)
LATER = ("lab.ladder", "lab.ladder.render_text", "lab.ladder.render_json", "lab.run.expect",
         "lab.run.diagnose", "rich.console", "rich.table")


class SetupError(LabError):
    """The lab could not be brought up for the run (exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class RunPlan:
    """What one run does: the scenario, and what the scenario engine derives from it."""

    scenario: Scenario
    topology: Topology
    policies: Mapping[str, Path] = field(default_factory=dict)
    faults: tuple[Fault, ...] = ()
    media_seconds: float | None = None  # None: the scenario's
    time_scale: float = 1.0  # long protocol timers of the daemons (TURN bind timer...)

    @classmethod
    def of(cls, scenario: Scenario, *, faults: tuple[Fault, ...] | None = None,
           media_seconds: float | None = None) -> RunPlan:
        """The plan of ``scenario``: its topology (overrides applied), policies, faults (or
        ``faults`` instead) and time scale."""
        if faults is None:
            faults = faults_for(scenario.faults, scenario.topology,
                                within=scenario.limits.setup_seconds)
        return cls(scenario, scenario.topology, policies=dict(scenario.policies), faults=faults,
                   media_seconds=media_seconds, time_scale=scenario.time_scale)


@dataclass(frozen=True)
class RunOptions:
    lab: str = DEFAULT_LAB
    keep: bool = False  # leave a lab this run built up afterwards
    pcap: Path | None = None  # where to keep the merged capture
    runtime: str = runtimes.DEFAULT_RUNTIME  # the node runtime of a lab this run builds
    progress: Callable[[str], None] | None = None  # told of long waits (lab.run.call)


@dataclass
class RunResult:
    plan: RunPlan
    lab: str
    built: bool
    outcome: CallOutcome
    ladder: Ladder | None = None
    pcap: Path | None = None  # the merged capture, if kept
    unmet: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    diagnosis: list[str] = field(default_factory=list)  # from the capture (lab.run.diagnose)

    @property
    def passed(self) -> bool:
        return not self.unmet


def role_node(topo: Topology, role: str) -> str:
    node = next((n.name for n in topo.nodes if n.role == role), None)
    if node is None:
        raise InputError(f"topology {topo.name} has no {role} node", topo.path,
                         fix=f"a screen-share run needs a node with role: {role}")
    return node


class _Timer:
    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - t0


def run(plan: RunPlan, options: RunOptions | None = None) -> RunResult:
    """Run ``plan`` (see the module docstring). Raises :class:`SetupError` / InputError when
    the lab cannot be set up; everything after that ends in a :class:`RunResult`."""
    opts = options or RunOptions()
    lab = check_lab_name(opts.lab)
    topo = plan.topology
    for role in ("sfb-client", "cms"):  # a screen share needs both
        role_node(topo, role)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    run_dir = RunDir(lab)
    capture = LabCapture.for_lab(lab, [n.name for n in topo.nodes], run_dir.path)
    built = not run_dir.path.exists()
    try:
        with _Timer(timings)("lab up" if built else "daemons restart"):
            ctx = _build(plan, lab, capture, timings=timings, for_run=not opts.keep,
                         runtime=opts.runtime, progress=opts.progress) if built else _attach(
                             plan, lab, capture, progress=opts.progress)
    except KeyboardInterrupt:
        if built:  # up rolled back what it had built, or it was up already
            raise Interrupted(_remove(lab, capture)) from None
        raise Interrupted(_restore(lab, topo, capture)) from None
    try:
        return _call(plan, ctx, capture, opts, timings=timings, start=start, built=built,
                     down=built and not opts.keep)
    except KeyboardInterrupt:
        if built and not opts.keep:  # _call took it down, unless it was too early for that
            raise Interrupted(_remove(lab, capture)) from None
        raise Interrupted(_restore(lab, topo, capture)) from None


@contextlib.contextmanager
def _no_ctrl_c() -> Iterator[None]:
    """Ctrl-C ignored while the lab is put back in order (a second one must not undo that)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _remove(lab: str, capture: LabCapture) -> str:
    """After an interrupt in a lab built for this run: it is removed. The words for the CLI."""
    with _no_ctrl_c():
        with contextlib.suppress(LabError):
            capture.stop()
        if not RunDir(lab).path.exists():
            return f"interrupted: lab {lab}, built for this run, was removed (nothing is left)"
        try:
            teardown.down(lab)
        except LabError as exc:
            return (f"interrupted: lab {lab}, built for this run, could not be removed ({exc}); "
                    f"`uclab clean --name {lab}` removes it")
    return f"interrupted: lab {lab}, built for this run, was removed (nothing is left)"


def _restore(lab: str, topo: Topology, capture: LabCapture) -> str:
    """After an interrupt in a lab that was up before the run: its daemons restarted as
    ``up`` starts them (a daemon mid-call, or not started, is no lab as it was), the partial
    captures removed. Ctrl-C is ignored while this runs. The words for the CLI."""
    with _no_ctrl_c():
        try:
            with contextlib.suppress(LabError):
                capture.stop()
            for part in capture.folder.glob("*"):
                part.unlink(missing_ok=True)
            state = LabState.load(lab)
            ctx = BuildContext(lab, topo, state, runtimes.get(state.runtime))
            with state.locked():
                supervisor.stop_daemons(state)
                supervisor.start_daemons(ctx)
        except UclabError as exc:
            return (f"interrupted: lab {lab} is damaged ({exc}); `uclab down --name {lab}` "
                    f"then `uclab up --name {lab}` repairs it")
    return f"interrupted: lab {lab} is as it was before the run (its daemons restarted)"


def run_built(ctx: BuildContext, plan: RunPlan, options: RunOptions | None = None
              ) -> RunResult:
    """The call in a lab the caller built (its network and policies, no daemons yet): the
    capture, then the daemons, the call, the ladder. The caller takes the lab down."""
    opts = options or RunOptions(lab=ctx.lab)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    capture = LabCapture.for_lab(ctx.lab, [n.name for n in plan.topology.nodes],
                                 ctx.run.path)
    try:
        with _Timer(timings)("daemons start"), ctx.state.locked():
            capture.start()
            supervisor.start_daemons(ctx, time_scale=plan.time_scale)
    except LabError as exc:
        with contextlib.suppress(LabError):
            capture.stop()
        raise SetupError(f"the daemons of lab {ctx.lab} could not be started: {exc}") from None
    return _call(plan, ctx, capture, opts, timings=timings, start=start, built=False,
                 down=False)


def _call(plan: RunPlan, ctx: BuildContext, capture: LabCapture, opts: RunOptions, *,
          timings: dict[str, float], start: float, built: bool, down: bool) -> RunResult:
    """The call, the capture stopped and merged, the lab taken down (``down``) while the
    ladder and the diagnosis are computed, the expectations judged."""
    topo = plan.topology
    timed = _Timer(timings)
    result = RunResult(plan, ctx.lab, built, CallOutcome())
    work = Path(tempfile.mkdtemp(prefix=f"uclab-run-{ctx.lab}-"))
    thread: threading.Thread | None = None
    try:
        try:
            with timed("call"):
                result.outcome = CallDriver(
                    ctx.state, plan.scenario, client=role_node(topo, "sfb-client"),
                    cms=role_node(topo, "cms"), faults=plan.faults,
                    media_seconds=plan.media_seconds, on_media=_import_later,
                    progress=opts.progress).run()
        finally:
            with timed("capture stop"):
                capture.stop()
            pcap = opts.pcap or work / "run.pcapng"
            with timed("capture merge"):
                capture.merge(pcap, keylog=ctx.run.pki / "keylog.txt")
            if down:
                thread = threading.Thread(target=_down, args=(ctx.lab, timings), name="down")
                thread.start()
        _ladder(result, pcap, timings)
        result.pcap = opts.pcap
    finally:
        if thread is not None:
            thread.join()
        shutil.rmtree(work, ignore_errors=True)
    from lab.run.expect import judge  # noqa: PLC0415

    reasons = result.ladder.verdict.reasons if result.ladder is not None else []
    result.unmet = judge(plan.scenario.expect, result.ladder, result.outcome.problems,
                         [*reasons, *result.diagnosis])
    timings["total"] = time.perf_counter() - start
    result.timings = timings
    return result


def _ladder(result: RunResult, pcap: Path, timings: dict[str, float]) -> None:
    """The ladder and the diagnosis, both from the capture (read once)."""
    from lab.capture import read_capture  # noqa: PLC0415 - see LATER
    from lab.ladder import build_ladder  # noqa: PLC0415
    from lab.run.diagnose import diagnose  # noqa: PLC0415
    from lab.run.expect import expected_values, ladder_names  # noqa: PLC0415

    topo = result.plan.topology
    with _Timer(timings)("ladder"):
        cap = read_capture(pcap)
        result.ladder = build_ladder(cap, names=ladder_names(topo),
                                     expect=expected_values(topo), topology=topo)
        wire = result.ladder.wire
        result.diagnosis = diagnose(result.ladder, wire.taps if wire is not None else cap, topo,
                                    time_scale=result.plan.time_scale,
                                    no_carrier=frozenset(result.outcome.no_carrier))


def _import_later() -> None:
    threading.Thread(target=_import, args=(LATER,), name="imports", daemon=True).start()


def _import(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # the main thread's own import will say what is wrong
            log.debug("background import of %s failed", name, exc_info=True)


def _down(lab: str, timings: dict[str, float]) -> None:
    t0 = time.perf_counter()
    try:
        teardown.down(lab)
    except LabError:
        log.exception("lab %s: down failed; `uclab clean` finishes it", lab)
    timings["lab down"] = time.perf_counter() - t0


def _build(plan: RunPlan, lab: str, capture: LabCapture, *,
           timings: dict[str, float], for_run: bool,
           runtime: str = runtimes.DEFAULT_RUNTIME,
           progress: Callable[[str], None] | None = None) -> BuildContext:
    """``up`` with the plan's policies, the capture started just before the daemons;
    ``for_run``: recorded as built for this run (``uclab clean`` removes it if this process
    dies before it does)."""
    def start_capture(ctx: BuildContext) -> None:
        capture.start()

    def start_daemons(ctx: BuildContext) -> None:
        supervisor.start_daemons(ctx, time_scale=plan.time_scale)

    steps: list[Step] = []
    for step in build.STEPS:
        if step.name == "daemons":
            steps += [Step("capture", start_capture), Step("daemons", start_daemons)]
        else:
            steps.append(step)
    try:
        ctx = build.up(plan.topology, lab, policies=plan.policies, steps=steps,
                       for_run=for_run, runtime=runtime, progress=progress)
    except UclabError as exc:
        with contextlib.suppress(LabError):
            capture.stop()
        if isinstance(exc, InputError):
            raise
        raise SetupError(f"the lab could not be brought up: {exc}") from None
    timings.update({f"up: {k}": v for k, v in ctx.timings.items()})
    return ctx


def _attach(plan: RunPlan, lab: str, capture: LabCapture, *,
            progress: Callable[[str], None] | None = None) -> BuildContext:
    """An existing lab: restart its daemons under a fresh capture."""
    state = LabState.load(lab)
    if state.phase != "up":
        raise SetupError(f"lab {lab} is {state.phase}, not up: `uclab down --name {lab}` "
                         "removes it, then run again")
    changes = [f"policies of {', '.join(plan.policies)}"] if plan.policies else []
    changes += [f"settings of {n}" for n in plan.scenario.overridden]
    if Path(state.topology).resolve() != plan.topology.path.resolve() or changes:
        what = ", ".join(changes) or f"topology {plan.topology.path}"
        raise InputError(f"lab {lab} runs {state.topology} as it is; scenario "
                         f"{plan.scenario.name} needs a lab of its own ({what})", "--name",
                         fix=f"`uclab down --name {lab}` first, or give another --name")
    ctx = BuildContext(lab, plan.topology, state, runtimes.get(state.runtime),
                       progress=progress)
    try:
        with state.locked():
            supervisor.stop_daemons(state)
            (ctx.run.pki / "keylog.txt").write_bytes(b"")  # new daemons, new TLS sessions
            capture.start()
            supervisor.start_daemons(ctx, time_scale=plan.time_scale)
    except LabError as exc:
        with contextlib.suppress(LabError):
            capture.stop()
        raise SetupError(f"the daemons of lab {lab} could not be restarted: {exc}") from None
    return ctx
