"""The step-by-step tour: the call stops before each group of canonical steps, held at the
daemon event that leads to them, until the trainee goes on (or breaks the call there).

    tour = Tour(scenario, on_stop=show)      # show(halt) is called at each stop
    result = run(tour.plan(), RunOptions(lab="uclab"))   # in a thread; meanwhile:
    tour.go_on()                             # "Next": the held daemon sends what comes next
    tour.go_on("cut: {link: sfb-edge:external}")  # or apply a fault first (the --fault grammar)

How it stops: a :class:`Tour` is a :class:`lab.run.faults.Fault`. Just before the share is
triggered it sets breakpoints in the daemons (the control command ``hold``, each with its own
limit); once the share has started it waits for each :data:`STOPS` event in turn; the daemon
reports the event and pauses right there, before sending what it leads to
(``nodes.common.EventLog.reach``).
"Next" is ``release`` with ``keep``: the paused daemon goes on, the later breakpoints stay.

Timers while the call is held: only the held coroutine pauses, every other task of every
daemon runs on (TURN refreshes, the traversal zone's keep-alives, ICE checks already started).
No stop falls inside a pending SIP transaction without its provisional response: every hop has
answered ``100 Trying`` before CMS holds, so Timer B never runs (RFC 3261 §17.1.1.2), and each
ACK is sent before the client holds. The long protocol timers that do run across stops are
stretched by the tour's time scale :data:`TOUR_TIME_SCALE` (the mechanism scenarios use to
shorten them), reported with the run: Expressway-E's 30 s ConnectionBind timer becomes 600 s
(no stop falls between steps 18 and 19 anyway), the ICE agents' 45 s overall timeout 900 s, the
client's patience for an answer 800 s, while a stop holds at most :data:`STOP_LIMIT` seconds
(then the daemon goes on by itself and the tour says so). Nothing is faked: the real timers run,
longer, and say so.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lab.base.errors import InputError
from lab.base.state import LabState
from lab.daemons.control import ControlError, request
from lab.run.engine import RunPlan, role_node
from lab.run.faults import Fault, faults_for
from lab.scenario import Limits, Scenario, with_faults

log = logging.getLogger(__name__)

TOUR_TIME_SCALE = 20.0
STOP_LIMIT = 240.0  # seconds a stop holds before the daemon goes on by itself
SLICE = 0.25


@dataclass(frozen=True)
class Stop:
    """A breakpoint: the daemon of ``role`` at ``event``, before steps ``next_steps``."""

    role: str
    event: str
    next_steps: tuple[int, ...]
    says: str  # what will happen next, in a sentence


def _r(a: int, b: int) -> tuple[int, ...]:
    return tuple(range(a, b + 1))


#: The tour's stops, in the call's order (the events are the daemons' own, DAEMON_EVENTS).
STOPS: tuple[Stop, ...] = (
    Stop("sfb-client", "invite", _r(1, 5), "the Skype client sends its share INVITE"),
    Stop("cms", "invite", _r(6, 9), "CMS asks Expressway-E for a TCP relay (TURN Allocate)"),
    Stop("cms", "allocated", (10,), "CMS installs a permission for the Skype Edge"),
    Stop("cms", "answered", _r(11, 16), "CMS answers 200 OK; the ACK comes back"),
    Stop("sfb-client", "answered", _r(17, 23),
         "the Skype Edge connects to the relayed address; ICE checks both ways"),
    Stop("sfb-client", "ice", _r(24, 26), "the Skype client re-INVITEs with the chosen pair"),
    Stop("cms", "reinvite", _r(27, 32), "CMS answers the re-INVITE; the ACK comes back"),
    Stop("sfb-client", "reinvited", (33,), "the share's media flows both ways"),
)


@dataclass(frozen=True)
class Halt:
    """The call as it stands at a stop."""

    index: int  # into STOPS
    stop: Stop
    node: str
    detail: str
    held: bool  # False: the breakpoint came too late and the call went on


_NEXT = "next"


class Tour:
    """Breakpoints at :data:`STOPS`; ``on_stop`` is called (in the tour's thread) at each."""

    def __init__(self, scenario: Scenario, on_stop: Callable[[Halt], None], *,
                 stops: tuple[Stop, ...] = STOPS, limit: float = STOP_LIMIT) -> None:
        self.scenario, self.on_stop, self.stops, self.limit = scenario, on_stop, stops, limit
        self.description = (f"step-by-step tour: {len(stops)} stops, each held up to "
                            f"{limit:g} s")
        self.current: Halt | None = None
        self.applied: list[Fault] = []
        self.notes: list[str] = []
        self._decisions: queue.Queue[str | Fault] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._nodes = {s.role: role_node(scenario.topology, s.role) for s in stops}

    def plan(self, media_seconds: float | None = None) -> RunPlan:
        """The run of the scenario with this tour: its own faults, the tour's time scale and
        a set-up limit long enough for every stop."""
        sc = dataclasses.replace(self.scenario, limits=Limits(
            setup_seconds=3600.0, hangup_seconds=self.scenario.limits.hangup_seconds))
        plan = RunPlan.of(sc, media_seconds=media_seconds)
        return dataclasses.replace(plan, faults=(*plan.faults, self),
                                   time_scale=TOUR_TIME_SCALE)

    # --- what the trainee does ----------------------------------------------------------

    def go_on(self, fault: str | None = None) -> None:
        """Release the current stop, first applying ``fault`` (one ``--fault`` entry); a bad
        fault raises InputError and the call stays where it is."""
        if fault is None:
            self._decisions.put(_NEXT)
            return
        sc = with_faults(dataclasses.replace(self.scenario, faults=()), [fault])
        spec = sc.faults[-1]
        if getattr(spec.kind, "at", None) is not None:
            raise InputError("a fault applied at a stop acts at once: leave out 'at'",
                             "fault", fix="e.g. cut: {link: sfb-edge:external}")
        made = faults_for((spec,), self.scenario.topology)
        self._decisions.put(made[0])

    # --- the Fault protocol ------------------------------------------------------------

    def before_share(self, state: LabState) -> None:
        """Every breakpoint, set before the share starts (none can come too early)."""
        for role in {s.role for s in self.stops}:
            events = [s.event for s in self.stops if s.role == role]
            request(state.run.control(self._nodes[role]), "hold", events=events,
                    limit=self.limit)

    def arm(self, state: LabState) -> None:
        self._thread = threading.Thread(target=self._run, args=(state,), daemon=True,
                                        name="tour")
        self._thread.start()

    def apply(self, state: LabState) -> None:
        self.before_share(state)
        self.arm(state)

    def disarm(self) -> list[str]:
        self._stop.set()
        self._decisions.put(_NEXT)
        if self._thread is not None:
            self._thread.join(SLICE + 10)
        for fault in self.applied:
            self.notes += fault.disarm()
        return list(self.notes)

    # --- the tour's thread -------------------------------------------------------------

    def _run(self, state: LabState) -> None:
        try:
            for index, stop in enumerate(self.stops):
                event = self._wait(state, stop)
                if event is None:
                    return
                halt = Halt(index, stop, self._nodes[stop.role], str(event.get("detail", "")),
                            bool(event.get("held")))
                self.current = halt
                if not halt.held:
                    self.notes.append(f"stop {index + 1} ({halt.node}:{stop.event}) came "
                                      "before its breakpoint was set; the call went on")
                self.on_stop(halt)
                if halt.held:
                    self._decide(state, halt)
                self.current = None
        except ControlError as exc:
            self.notes.append(f"the tour ended: {exc}")
        finally:
            self._release_all(state)

    def _wait(self, state: LabState, stop: Stop) -> dict[str, object] | None:
        node = self._nodes[stop.role]
        while not self._stop.is_set():
            try:
                reply = request(state.run.control(node), "wait", events=[stop.event],
                                within=SLICE, timeout=SLICE + 5)
            except ControlError as exc:
                self.notes.append(f"the tour stopped before {node}:{stop.event}: "
                                  f"{exc.message}")
                return None
            event = reply.get("event")
            if isinstance(event, dict):
                return event
        return None

    def _decide(self, state: LabState, halt: Halt) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set():
            try:
                choice = self._decisions.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.notes.append(f"stop {halt.index + 1} waited {self.limit:g} s; "
                                  f"{halt.node} went on by itself")
                return
            if isinstance(choice, str):
                break
            choice.apply(state)
            self.applied.append(choice)
            self.notes.append(f"at stop {halt.index + 1} ({halt.node}:{halt.stop.event}): "
                              f"{choice.description}")
            break
        try:
            request(state.run.control(halt.node), "release", keep=True)
        except ControlError as exc:  # a stopped node needs no release
            log.info("release %s: %s", halt.node, exc.message)

    def _release_all(self, state: LabState) -> None:
        for node in set(self._nodes.values()):
            try:
                request(state.run.control(node), "release", timeout=2)
            except ControlError as exc:
                log.debug("release %s: %s", node, exc.message)


__all__ = ["STOPS", "STOP_LIMIT", "TOUR_TIME_SCALE", "Halt", "Stop", "Tour"]
