"""Driving the share through the daemons' control sockets: trigger, wait for media both ways,
let it run, end the call from the CMS side, collect what the daemons saw.

Everything here is a Unix-socket request (:mod:`lab.daemons.control`): no packet is sent from the
root namespace. Every wait is on an event the daemons report (``wait``), in slices, so that a daemon
that dies is noticed at once and named (:func:`lab.daemons.supervisor.health`), never after a long
timeout.

Why CMS hangs up: its BYE travels CMS -> Expressway-C -> (traversal zone) -> Expressway-E ->
Skype Edge, and Expressway-E has no connection it may use towards the Edge (the Edge's own
connection is not offered for reuse, no ``;alias``), so it opens a new one from 25000-29999 to
the Edge's 5061: ports.md flow F2 is exercised, as in the field, where a meeting that ends
sends its BYEs from the CMS side.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lab.base.errors import LabError
from lab.base.state import LabState
from lab.daemons.control import ControlError, request
from lab.daemons.supervisor import DaemonHealth, health
from lab.run.faults import Fault
from lab.scenario import Scenario

log = logging.getLogger(__name__)

SLICE = 0.25  # seconds between liveness checks while waiting on an event
PROGRESS_AFTER, PROGRESS_EVERY = 2.0, 5.0  # a long wait is told after 2 s, then every 5 s


@dataclass
class CallOutcome:
    """What happened to the call, as the daemons tell it (the verdict comes from the capture)."""

    reached: str = "not started"  # "ended", "failed", "died", "timeout", ...
    problems: list[str] = field(default_factory=list)
    setup_s: float | None = None  # share command to media both ways (daemons' clocks)
    media_s: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)  # node -> its stats reply
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    dead: list[DaemonHealth] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    no_carrier: list[str] = field(default_factory=list)  # bridge ports, before faults undone


def _no_carrier(lab: str) -> list[str]:
    from lab.lifecycle.status import ports_without_carrier  # noqa: PLC0415 - with faults only

    try:
        return ports_without_carrier(lab)
    except LabError as exc:
        log.warning("lab %s: the links' carrier could not be read: %s", lab, exc)
        return []


class _Stop(Exception):
    """The call cannot go on: ``reached`` says why."""

    def __init__(self, reached: str, problem: str) -> None:
        super().__init__(problem)
        self.reached, self.problem = reached, problem


class CallDriver:
    """One share between the Skype client ``client`` and the meeting server ``cms``."""

    def __init__(self, state: LabState, scenario: Scenario, *, client: str, cms: str,
                 faults: Sequence[Fault] = (), media_seconds: float | None = None,
                 on_media: Callable[[], None] | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.state, self.scenario = state, scenario
        self.on_media = on_media  # called once media flows both ways
        self.progress = progress  # told of a wait longer than PROGRESS_AFTER seconds
        self.client, self.cms = client, cms
        self.faults = list(faults)
        self.media_seconds = scenario.media.seconds if media_seconds is None else media_seconds
        self.out = CallOutcome()

    def path(self, node: str) -> str:
        return str(self.state.run.control(node))

    def run(self) -> CallOutcome:
        out = self.out
        t0 = time.monotonic()
        try:
            self._call(t0)
        except _Stop as stop:
            out.reached, out.problems = stop.reached, [*out.problems, stop.problem]
        except ControlError as exc:
            out.reached, out.problems = "failed", [*out.problems, str(exc)]
        finally:
            if self.faults:  # before they are undone: a cut link's bridge port
                out.no_carrier = _no_carrier(self.state.lab)
            for fault in self.faults:
                out.faults += fault.disarm()
            out.dead = [h for h in health(self.state) if not h.alive]
            for h in out.dead:
                if not any(f"the {h.node} daemon died" in p for p in out.problems):
                    out.problems.append(f"the {h.node} daemon died")
            self._collect()
        return out

    def _call(self, t0: float) -> None:
        out, limits = self.out, self.scenario.limits
        for fault in self.faults:
            fault.before_share(self.state)
        reply = request(self.path(self.client), "share")
        for fault in self.faults:
            fault.arm(self.state)
        after = int(reply.get("after", 0))
        self.wait(self.client, ["media-received"], limits.setup_seconds, after=after)
        self.wait(self.cms, ["media-received"], max(0.5, limits.setup_seconds - (
            time.monotonic() - t0)))
        out.setup_s = time.monotonic() - t0
        out.timings["share to media both ways"] = out.setup_s
        if self.on_media is not None:
            self.on_media()
        t1 = time.monotonic()
        self.watch(self.media_seconds)
        out.media_s = time.monotonic() - t1
        t2 = time.monotonic()
        request(self.path(self.cms), "hangup", timeout=limits.hangup_seconds + 1,
                within=limits.hangup_seconds)
        self.wait(self.client, ["ended"], limits.hangup_seconds, after=after)
        out.timings["hangup"] = time.monotonic() - t2
        out.reached = "ended"

    def wait(self, node: str, events: list[str], within: float, after: int = 0) -> dict[str, Any]:
        """The first of ``events`` on ``node``; :class:`_Stop` if it reports ``failed``, if a
        daemon dies meanwhile, or after ``within`` seconds."""
        start = time.monotonic()
        deadline, tell = start + within, start + PROGRESS_AFTER
        names = [*events, "failed"]
        while True:
            now = time.monotonic()
            if self.progress is not None and now >= tell and now < deadline:
                self.progress(f"waiting for {' or '.join(events)} on {node}: {now - start:.0f} "
                              f"of at most {within:g} s")
                tell = now + PROGRESS_EVERY
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Stop("timeout", f"no {' or '.join(events)} on {node} within "
                            f"{within:g} s")
            step = min(SLICE, left)
            try:
                reply = request(self.path(node), "wait", events=names, within=step,
                                after=after, timeout=step + 5)
            except ControlError as exc:
                if exc.unreachable:
                    raise _Stop("died", f"{node} stopped answering while waiting for "
                                f"{' or '.join(events)}") from None
                raise
            event = reply.get("event")
            if event is not None:
                if event["name"] == "failed":
                    raise _Stop("failed", f"{node}: {event.get('detail', 'failed')}")
                return dict(event)
            self._check_alive(f"waiting for {' or '.join(events)} on {node}")

    def watch(self, seconds: float) -> None:
        """Let the media run ``seconds``, noticing a daemon that dies or a call that fails."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            reply = request(self.path(self.client), "wait", events=["failed", "ended"],
                            within=min(SLICE, left), timeout=SLICE + 5)
            event = reply.get("event")
            if event is not None:
                raise _Stop(event["name"], f"{self.client}: the call {event['name']} during "
                            f"the media ({event.get('detail', '')})")
            self._check_alive("during the media")

    def _check_alive(self, when: str) -> None:
        dead = [h for h in health(self.state) if not h.alive]
        if dead:
            raise _Stop("died", f"the {', '.join(h.node for h in dead)} daemon died {when}")

    def _collect(self) -> None:
        for node in (self.client, self.cms):
            try:
                self.out.stats[node] = request(self.path(node), "stats")
                status = request(self.path(node), "status")
                self.out.events[node], self.out.pids[node] = status["events"], status["pid"]
            except ControlError as exc:
                log.info("no statistics from %s: %s", node, exc)
