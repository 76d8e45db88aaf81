"""Faults a run injects while the call runs: a node stopped, packet loss, a link cut.

A fault is armed when the share starts and acts in a thread of its own, so that the call's
own waiting goes on: it may first wait for a daemon's event (``at``, through the control
socket: nothing is sent from the root namespace), then act on the lab. The wait holds the
daemon at that event (``nodes.common``: it pauses before sending what the event leads to) until
the fault has acted, so a cut or a kill at ``cms:answered`` always comes before CMS's 200 OK
leaves, never a few packets later. The run engine calls
:meth:`Fault.arm` right after the share command and :meth:`Fault.disarm` when the call is over;
``disarm`` undoes what can be undone (a lab that stays up is left as it was) and says, in
words, what happened (printed and kept in the JSON).

    KillDaemon("cms", at_event="invite")          # SIGKILL CMS's daemon when the INVITE reaches it
    PacketLoss("internet", 5, [LossPoint("fw-outside", "forward")])   # 1 packet in 20 dropped
    LinkCut("sfb-edge", "external", at=Trigger("cms", "answered"))

:func:`faults_for` makes them from a scenario's ``faults:`` (:mod:`lab.scenario.definition`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from lab import runtime as runtimes
from lab.base.errors import LabError
from lab.base.names import namespace
from lab.base.state import LabState
from lab.daemons.control import ControlError, request
from lab.kernel import links, nftables
from lab.scenario import CutFault, FaultSpec, LossFault, StopFault, Trigger
from lab.topology import Topology

log = logging.getLogger(__name__)

SLICE = 0.25  # seconds per wait request, so that disarm() ends a wait at once
FAULT_TABLE = "uclab_fault"


class Fault(Protocol):
    description: str

    def before_share(self, state: LabState) -> None:
        """The daemons are up, the share is about to be triggered (set breakpoints)."""

    def arm(self, state: LabState) -> None:
        """Start acting (the share has just been started)."""

    def disarm(self) -> list[str]:
        """Stop and undo; what happened, in words (for the report)."""

    def apply(self, state: LabState) -> None:
        """Act now, in the caller's thread, ignoring the trigger (a step-by-step tour applies
        a fault while a daemon is held at a stop); :meth:`disarm` undoes it as after
        :meth:`arm`."""


class _Triggered:
    """A fault that acts once, at a trigger (or at once), in its own thread."""

    description = ""

    def __init__(self, at: Trigger | None, within: float) -> None:
        self.at, self.within = at, within
        self.done: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state: LabState | None = None

    def before_share(self, state: LabState) -> None:
        """Nothing: a fault's trigger is waited for once the share has started."""

    def arm(self, state: LabState) -> None:
        self._state = state
        self._thread = threading.Thread(target=self._run, args=(state,), daemon=True,
                                        name=f"fault:{type(self).__name__}")
        self._thread.start()

    def _run(self, state: LabState) -> None:
        try:
            if self.at is not None and not self._wait(state, self.at):
                return
            self.act(state)
        except LabError as exc:
            log.warning("fault %s failed: %s", self.description, exc)
            self.done.append(f"{self.description}: could not act: {exc}")
        finally:
            if self.at is not None:
                self._release(state, self.at)

    def apply(self, state: LabState) -> None:
        self._state = state
        try:
            self.act(state)
        except LabError as exc:
            log.warning("fault %s failed: %s", self.description, exc)
            self.done.append(f"{self.description}: could not act: {exc}")

    @staticmethod
    def _release(state: LabState, at: Trigger) -> None:
        """Let the daemon held at ``at`` go on (a killed daemon needs nothing)."""
        try:
            request(state.run.control(at.node), "release", timeout=5)
        except ControlError as exc:
            log.debug("release %s: %s", at, exc.message)

    def _wait(self, state: LabState, at: Trigger) -> bool:
        deadline = time.monotonic() + self.within
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                self.done.append(f"{at}: not reported within {self.within:g} s; "
                                 f"{self.description} did not happen")
                return False
            try:
                reply = request(state.run.control(at.node), "wait", events=[at.event],
                                within=min(SLICE, left), timeout=SLICE + 5, hold=True)
            except ControlError as exc:
                self.done.append(f"{at}: never came ({exc.message}); {self.description} did "
                                 "not happen")
                return False
            if reply.get("event") is not None:
                return True
        self.done.append(f"the call ended before {at}; {self.description} did not happen")
        return False

    def act(self, state: LabState) -> None:
        raise NotImplementedError

    def undo(self, state: LabState) -> None:
        """Put back what :meth:`act` changed (the lab may stay up)."""

    def disarm(self) -> list[str]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(SLICE + 10)
        if self._state is not None:
            try:
                self.undo(self._state)
            except LabError as exc:
                self.done.append(f"{self.description}: could not be undone: {exc}")
        return list(self.done)

    def _when(self) -> str:
        return f"when {self.at.node} reports {self.at.event!r}" if self.at else "at once"


class KillDaemon(_Triggered):
    """SIGKILL the daemon of ``node`` once it reports ``at_event`` (or at once if ``None``);
    ``at`` waits for another node's event instead."""

    def __init__(self, node: str, at_event: str | None = None, within: float = 15.0, *,
                 at: Trigger | None = None, description: str = "") -> None:
        trigger = at or (Trigger(node, at_event) if at_event else None)
        super().__init__(trigger, within)
        self.node = node
        self.description = description or f"kill the {node} daemon {self._when()}"

    def act(self, state: LabState) -> None:
        runtime = runtimes.get(state.runtime)
        stopped = runtime.stop(state, runtime.handle(state.lab, self.node))
        when = f" when {self.at.node} reported {self.at.event!r}" if self.at else ""
        for what in stopped:
            log.info("fault: %s", what)
            self.done.append(what + when)


@dataclass(frozen=True)
class LossPoint:
    """Where a loss rule goes: a node, the nftables hook, the interface (veth ends only)."""

    node: str
    hook: str  # "forward" (a bridge's traffic) or "postrouting" (what leaves ``iface``)
    iface: str | None = None


def loss_ruleset(percent: float, random: bool, where: LossPoint, label: str) -> str:
    """The fault's nftables table: one rule that drops ``percent`` % of IPv4 packets, either
    every (100/percent)-th one (reproducible) or at random (``numgen``)."""
    if random:
        pick = f"numgen random mod 10000 < {round(percent * 100)}"
    else:
        every = max(2, round(100 / percent))
        pick = f"numgen inc mod {every} == {every - 1}"
    match = f'oifname "{where.iface}" ' if where.iface else ""
    return (f"table inet {FAULT_TABLE}\ndelete table inet {FAULT_TABLE}\n"
            f"table inet {FAULT_TABLE} {{\n\tchain loss {{\n"
            f"\t\ttype filter hook {where.hook} priority -150; policy accept;\n"
            f'\t\t{match}meta nfproto ipv4 {pick} counter drop comment "uclab: {label}"\n'
            "\t}\n}\n")


_COUNTER = re.compile(r"counter packets (\d+) bytes \d+ drop")


class PacketLoss(_Triggered):
    """``percent`` % packet loss on a segment, by an nftables rule in its bridge (a firewall's
    or switch's namespace) or, for a veth segment, where each end sends."""

    def __init__(self, segment: str, percent: float, points: list[LossPoint], *,
                 random: bool = False, at: Trigger | None = None, within: float = 15.0) -> None:
        super().__init__(at, within)
        self.segment, self.percent, self.random, self.points = segment, percent, random, points
        how = "at random" if random else f"one packet in {max(2, round(100 / percent))}"
        self.description = (f"{percent:g}% packet loss on segment {segment} ({how}, nftables "
                            f"in {', '.join(p.node for p in points)}) {self._when()}")
        self._loaded: list[str] = []

    def act(self, state: LabState) -> None:
        label = f"{self.percent:g}% loss on {self.segment}"
        jobs = [nftables.NftJob(namespace(state.lab, p.node),
                                  text=loss_ruleset(self.percent, self.random, p, label))
                for p in self.points]
        nftables.load(jobs)
        self._loaded = [j.ns for j in jobs]
        log.info("fault: %s", self.description)

    def undo(self, state: LabState) -> None:
        if not self._loaded:
            return
        listed = nftables.list_rulesets(self._loaded)
        dropped = sum(int(m.group(1)) for text in listed.values()
                      for m in _COUNTER.finditer(text))
        nftables.load([nftables.NftJob(ns, text=f"table inet {FAULT_TABLE}\n"
                                           f"delete table inet {FAULT_TABLE}\n")
                         for ns in self._loaded])
        self.done.append(f"{self.percent:g}% packet loss on {self.segment}: the rule dropped "
                         f"{dropped} packet(s)")
        self._loaded = []


class LinkCut(_Triggered):
    """Interface ``iface`` of ``node`` goes down (a cut cable); it comes back up afterwards."""

    def __init__(self, node: str, iface: str, *, at: Trigger | None = None,
                 within: float = 15.0) -> None:
        super().__init__(at, within)
        self.node, self.iface = node, iface
        self.description = f"cut the link {node}:{iface} {self._when()}"
        self._cut = False

    def act(self, state: LabState) -> None:
        links.set_link_state(namespace(state.lab, self.node), self.iface, False)
        self._cut = True
        self.done.append(f"cut the link {self.node}:{self.iface} (down)" + (
            f" when {self.at.node} reported {self.at.event!r}" if self.at else ""))

    def undo(self, state: LabState) -> None:
        if self._cut:
            links.set_link_state(namespace(state.lab, self.node), self.iface, True)
            self._cut = False


@dataclass(frozen=True)
class _Plan:
    topo: Topology
    within: float

    def loss_points(self, segment: str) -> list[LossPoint]:
        seg = self.topo.segment(segment)
        if seg.bridge is not None:
            return [LossPoint(seg.bridge, "forward")]
        return [LossPoint(e.node, "postrouting", e.interface) for e in seg.endpoints]


def faults_for(specs: tuple[FaultSpec, ...], topo: Topology, *, within: float = 15.0
               ) -> tuple[Fault, ...]:
    """The runtime faults of a scenario's ``faults:`` (already validated against ``topo``);
    ``within`` bounds the wait for a trigger (the scenario's set-up limit)."""
    plan = _Plan(topo, within)
    out: list[Fault] = []
    for spec in specs:
        f = spec.kind
        if isinstance(f, LossFault):
            out.append(PacketLoss(f.segment, f.percent, plan.loss_points(f.segment),
                                  random=f.random, at=f.at, within=within))
        elif isinstance(f, CutFault):
            node, _, iface = f.link.partition(":")
            out.append(LinkCut(node, iface, at=f.at, within=within))
        elif isinstance(f, StopFault):
            out.append(KillDaemon(f.node, at=f.at, within=within))
    return tuple(out)


__all__ = ["FAULT_TABLE", "Fault", "KillDaemon", "LinkCut", "LossPoint", "PacketLoss",
           "faults_for", "loss_ruleset"]
