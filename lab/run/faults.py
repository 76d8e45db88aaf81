"""Faults a run injects while the call runs (the scenario engine grows this module).

A fault is armed when the share starts and acts in a thread of its own, so that the call's
own waiting goes on: it may wait for a daemon's event through the control socket (nothing is
sent from the root namespace), then act on the lab. The run engine calls :meth:`Fault.arm`
right after the share command and :meth:`Fault.disarm` when the call is over.

    KillDaemon("cms", at_event="invite")    # SIGKILL CMS's daemon when the INVITE reaches it

To add one (link cut, nft drop rule, time scale...), implement the protocol and give it to
:class:`lab.run.RunPlan`; its :attr:`description` is printed and kept in the JSON.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass, field
from typing import Protocol

from lab import kernel_ns
from lab.control import ControlError, request
from lab.daemons import daemon_records, node_of
from lab.state import LabState

log = logging.getLogger(__name__)


class Fault(Protocol):
    description: str

    def arm(self, state: LabState) -> None:
        """Start acting (the share has just been started)."""

    def disarm(self) -> list[str]:
        """Stop; what happened, in words (for the report)."""


@dataclass
class KillDaemon:
    """SIGKILL the daemon of ``node`` once it reports ``at_event`` (or at once if ``None``)."""

    node: str
    at_event: str | None = None
    within: float = 15.0
    description: str = ""
    _done: list[str] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        when = f"when it reports {self.at_event!r}" if self.at_event else "at once"
        self.description = self.description or f"kill the {self.node} daemon {when}"

    def arm(self, state: LabState) -> None:
        self._thread = threading.Thread(target=self._run, args=(state,), daemon=True,
                                        name=f"fault:{self.node}")
        self._thread.start()

    def _run(self, state: LabState) -> None:
        if self.at_event is not None:
            try:
                reply = request(state.run.control(self.node), "wait", events=[self.at_event],
                                timeout=self.within + 1, within=self.within)
            except ControlError as exc:
                self._done.append(f"{self.node}: {self.at_event} never came ({exc.message})")
                return
            if reply.get("event") is None:
                self._done.append(f"{self.node}: no {self.at_event} within {self.within:g} s")
                return
        for record in daemon_records(state):
            if node_of(record) != self.node or record.pid is None or record.start is None:
                continue
            if kernel_ns.alive(kernel_ns.ProcessId(record.pid, record.start)):
                os.kill(record.pid, signal.SIGKILL)
                log.info("fault: killed the %s daemon (pid %d)", self.node, record.pid)
                self._done.append(f"killed the {self.node} daemon (pid {record.pid}, SIGKILL)"
                                  + (f" when it reported {self.at_event!r}" if self.at_event
                                     else ""))

    def disarm(self) -> list[str]:
        if self._thread is not None:
            self._thread.join(self.within + 2)
        return list(self._done)
