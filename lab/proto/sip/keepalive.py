"""Keeping an outbound zone flow up, sans-I/O: RFC 5626 §4.4.1 CRLF keep-alives with pong
tracking, and §4.5 reconnection with back-off. Expressway-C keeps its traversal connection to
Expressway-E:7001 this way.

The owner asks :meth:`FlowKeeper.handle_timer` what to do at ``now`` and carries it out:

- ``CONNECT``: open the flow, then report :meth:`connected` or :meth:`connect_failed`;
- ``PING``: write a double CRLF on the flow (the framer is told to expect the pong);
- ``CLOSE``: no pong came within ``pong_timeout`` of a ping: the flow is dead although TCP may
  not know it yet (a silent drop, a crashed middlebox); abort it.

and reports what the flow did: :meth:`pong` (a lone CRLF after our ping), :meth:`lost` (the
connection closed, by the peer, by TCP or after ``CLOSE``). Time is an argument; the owner
sleeps until :meth:`next_deadline`.

Back-off: after ``n`` consecutive failures the next attempt waits
``min(backoff_max, backoff_base * 2 ** (n - 1))`` (1, 2, 4 ... 30 s by default; deterministic,
without §4.5's random 50-100 % factor, so that a trainee's ladder is reproducible). A flow
counts as working, and the count restarts, once a pong came back over it: a peer that accepts
connections and drops them at once does not make us reconnect in a tight loop.
"""

from __future__ import annotations

from enum import Enum


class KeepAction(Enum):
    CONNECT = "open the flow"
    PING = "send a CRLFCRLF ping"
    CLOSE = "abort the flow: its pong is overdue"


class FlowKeeper:
    """The state of one kept flow: ``down`` (a connect is due at some time), ``connecting``,
    ``up`` or ``closing`` (CLOSE asked, waiting for :meth:`lost`)."""

    def __init__(self, now: float, interval: float = 10.0, pong_timeout: float = 10.0,
                 backoff_base: float = 1.0, backoff_max: float = 30.0) -> None:
        self.interval = interval
        self.pong_timeout = pong_timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.state = "down"
        self.failures = 0
        self.connect_at: float | None = now
        self.ping_at: float | None = None
        self.pong_by: float | None = None

    # --- what the owner must do -------------------------------------------------------------
    def next_deadline(self) -> float | None:
        times = [t for t in (self.connect_at, self.ping_at, self.pong_by) if t is not None]
        return min(times, default=None)

    def handle_timer(self, now: float) -> list[KeepAction]:
        if self.state == "down" and self.connect_at is not None and self.connect_at <= now:
            self.state, self.connect_at = "connecting", None
            return [KeepAction.CONNECT]
        if self.state != "up":
            return []
        if self.pong_by is not None and self.pong_by <= now:
            self.state, self.ping_at, self.pong_by = "closing", None, None
            return [KeepAction.CLOSE]
        if self.ping_at is not None and self.ping_at <= now:
            self.ping_at = now + self.interval
            if self.pong_by is None:
                self.pong_by = now + self.pong_timeout
            return [KeepAction.PING]
        return []

    # --- what happened ----------------------------------------------------------------------
    def connected(self, now: float) -> None:
        self.state = "up"
        self.ping_at, self.pong_by = now + self.interval, None

    def connect_failed(self, now: float) -> float:
        """The attempt failed; returns the time of the next one."""
        return self._retry(now)

    def pong(self, now: float) -> None:
        """A pong came: the path works both ways (RFC 5626 §4.4.1)."""
        if self.state == "up" and self.pong_by is not None:
            self.pong_by = None
            self.failures = 0

    def lost(self, now: float) -> float:
        """The flow closed (whoever closed it); returns the time of the next connect."""
        return self._retry(now)

    def _retry(self, now: float) -> float:
        self.failures += 1
        delay = min(self.backoff_max, self.backoff_base * 2 ** (self.failures - 1))
        self.state, self.ping_at, self.pong_by = "down", None, None
        self.connect_at = now + delay
        return self.connect_at
