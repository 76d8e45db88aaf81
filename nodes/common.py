"""What every node daemon shares: start-up, logging, events, the control socket, SIP and TLS.

A daemon is ``python -m nodes.<role> --config <run>/config/<node>.json --control
<run>/control/<node>.sock``, started inside its node's namespace by ``uclab up``
(:mod:`lab.daemons.supervisor`). Its body (the role's ``serve(daemon)``) starts its servers in the
daemon's TaskGroup, then calls :meth:`Daemon.ready`, which opens the control socket: that
socket's existence is the readiness signal. SIGTERM (``uclab down``) cancels everything;
the socket is removed on the way out. Logs go to stderr, which is ``<run>/logs/<node>.log``.

Each daemon keeps a log of named events (``invite``, ``answered``, ``ice``, ``media-received``,
``ended``, ``failed``...) that the control command ``wait`` lets the run engine wait on, so
nothing outside ever sleeps a fixed time. ``wait`` with ``"hold": true`` makes the events a
breakpoint: the daemon reports the event and pauses there, before it sends what the event leads
to (CMS's 200 OK after ``answered``), until ``release`` (or :data:`HOLD_LIMIT`). A fault acts
while the daemon is held, so it cannot race with the messages the event triggers. ``hold``
sets breakpoints ahead of time (a step-by-step tour: several events, each with its own limit up
to :data:`MAX_HOLD`), and ``release`` with ``"keep": true`` lets the paused event go on while
the other breakpoints stay set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.base.errors import LabError
from lab.daemons.config import DaemonConfig, read_config
from lab.daemons.control import ControlServer, Handler, Reply
from lab.daemons.sip_routes import SipPlan
from lab.topology.events import DaemonEvent

log = logging.getLogger("nodes")

AFTER_TIMEOUT = 30.0  # how long a daemon waits for the daemons it depends on
HOLD_LIMIT = 10.0  # a held event goes on by itself after this, released or not
MAX_HOLD = 900.0  # the longest limit a ``hold`` request may ask for


@dataclass(frozen=True)
class Event:
    seq: int
    name: str
    at: float  # Unix time
    detail: str = ""
    held: bool = False  # the daemon paused at this event until released

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "name": self.name, "at": self.at, "detail": self.detail,
                "held": self.held}


class EventLog:
    """Named events in order; waiters are woken by the first matching event; events named in
    :meth:`hold` pause the daemon where :meth:`reach` reports them."""

    def __init__(self, hold_limit: float = HOLD_LIMIT) -> None:
        self.items: list[Event] = []
        self._waiters: list[tuple[frozenset[str], int, asyncio.Future[Event]]] = []
        self._holds: set[str] = set()
        self._limits: dict[str, float] = {}
        self._gates: list[asyncio.Event] = []
        self.hold_limit = hold_limit

    def hold(self, names: Sequence[str], limit: float | None = None) -> None:
        """Pause at the next of ``names`` that :meth:`reach` reports, until :meth:`release`
        (or ``limit`` seconds, :attr:`hold_limit` by default)."""
        self._holds.update(names)
        for name in names:
            if limit is None:
                self._limits.pop(name, None)
            else:
                self._limits[name] = limit

    def release(self, *, keep: bool = False) -> int:
        """Let every paused :meth:`reach` go on and drop every hold (``keep``: the holds not
        reached yet stay set); how many were paused."""
        if not keep:
            self._holds.clear()
            self._limits.clear()
        gates, self._gates = self._gates, []
        for gate in gates:
            gate.set()
        return len(gates)

    async def reach(self, name: str, detail: str = "") -> Event:
        """:meth:`add`, then pause while ``name`` is held (at most ``hold_limit`` seconds)."""
        if name not in self._holds:
            return self.add(name, detail)
        self._holds.discard(name)
        limit = self._limits.pop(name, self.hold_limit)
        gate = asyncio.Event()
        self._gates.append(gate)
        ev = self.add(name, detail, held=True)
        try:
            async with asyncio.timeout(limit):
                await gate.wait()
        except TimeoutError:
            log.warning("event %s held for %g s without a release: going on", name, limit)
            with contextlib.suppress(ValueError):
                self._gates.remove(gate)
        return ev

    def add(self, name: str, detail: str = "", *, held: bool = False) -> Event:
        ev = Event(len(self.items) + 1, name, time.time(), detail, held)
        self.items.append(ev)
        log.info("event %s%s%s", name, f": {detail}" if detail else "",
                 " (held)" if held else "")
        for names, after, fut in list(self._waiters):
            if name in names and ev.seq > after and not fut.done():
                fut.set_result(ev)
        return ev

    def find(self, names: Sequence[str], after: int = 0) -> Event | None:
        return next((e for e in self.items if e.name in names and e.seq > after), None)

    async def wait(self, names: Sequence[str], after: int = 0,
                   within: float | None = None) -> Event | None:
        """The first event named in ``names`` after ``after`` (past or future), or None."""
        found = self.find(names, after)
        if found is not None:
            return found
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        entry = (frozenset(names), after, fut)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(within):
                return await fut
        except TimeoutError:
            return None
        finally:
            self._waiters.remove(entry)


class Daemon:
    """One node daemon: its configuration, events, control socket and task group."""

    def __init__(self, config: DaemonConfig, control: Path) -> None:
        self.config = config
        self.events = EventLog()
        self.handlers: dict[str, Handler] = {"status": self._status, "wait": self._wait,
                                             "hold": self._hold, "release": self._release}
        self.control = ControlServer(control, self.handlers)
        self.tg: asyncio.TaskGroup | None = None
        self.started = time.time()

    @property
    def name(self) -> str:
        return self.config.node

    def command(self, name: str, handler: Handler) -> None:
        self.handlers[name] = handler
        self.control.handlers[name] = handler

    async def ready(self) -> None:
        """Everything listens: open the control socket (the readiness signal)."""
        await self.control.start()
        log.info("%s ready in %.3f s (pid %d)", self.name, time.time() - self.started,
                 os.getpid())

    def spawn(self, what: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` in the daemon's task group; an exception is logged and recorded as a
        ``failed`` event instead of stopping the daemon."""
        async def guarded() -> None:
            try:
                await coro
            except Exception as exc:
                log.exception("%s failed", what)
                await self.events.reach(DaemonEvent.FAILED, f"{what}: {exc}")

        if self.tg is None:
            raise LabError("the daemon is not running")
        return self.tg.create_task(guarded(), name=what)

    async def wait_after(self) -> None:
        """Wait until the daemons this one depends on are ready (their control sockets exist).
        No packet is sent meanwhile, so a capture shows no refused connections."""
        deadline = time.monotonic() + AFTER_TIMEOUT
        for path in map(Path, self.config.after):
            while not path.exists():
                if time.monotonic() > deadline:
                    raise LabError(f"{path.stem} did not become ready within {AFTER_TIMEOUT:g} s")
                await asyncio.sleep(0.005)

    def tls(self) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
        """(server, client) TLS contexts of this node, writing the lab's key log; (None, None)
        for ``sip_transport: tcp``."""
        if self.config.transport != "tls":
            return None, None
        from lab.aio.tls import client_context, server_context  # noqa: PLC0415
        from lab.base.pki import LabPki  # noqa: PLC0415

        pki = LabPki(self.config.pki)
        node = pki.node(self.name)
        return server_context(pki, node), client_context(pki, node)

    async def _status(self, req: dict[str, Any]) -> Reply:
        return {"node": self.name, "role": self.config.role, "pid": os.getpid(),
                "events": [e.as_dict() for e in self.events.items]}

    async def _wait(self, req: dict[str, Any]) -> Reply:
        names = req.get("events")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return {"ok": False, "error": 'wait needs "events": a list of event names'}
        within = float(req.get("within", 10.0))
        if req.get("hold") is True:
            self.events.hold(names)
        ev = await self.events.wait(names, int(req.get("after", 0)), within)
        return {"event": ev.as_dict() if ev is not None else None}

    async def _hold(self, req: dict[str, Any]) -> Reply:
        names = req.get("events")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return {"ok": False, "error": 'hold needs "events": a list of event names'}
        limit = req.get("limit")
        if limit is not None and (not isinstance(limit, int | float)
                                  or not 0 < limit <= MAX_HOLD):
            return {"ok": False, "error": f'"limit" is seconds, more than 0 and at most '
                    f"{MAX_HOLD:g}"}
        self.events.hold(names, None if limit is None else float(limit))
        return {"holding": sorted(names)}

    async def _release(self, req: dict[str, Any]) -> Reply:
        return {"released": self.events.release(keep=req.get("keep") is True)}


def proxy_from_plan(daemon: Daemon, plan: SipPlan) -> Any:
    """The :class:`lab.aio.sip_proxy.SipProxy` a :class:`SipPlan` describes."""
    from lab.aio.sip_proxy import SipProxy  # noqa: PLC0415
    from lab.aio.sip_transport import Listener, TransportConfig  # noqa: PLC0415
    from lab.proto.sip.core import Target  # noqa: PLC0415
    from lab.proto.sip.proxy import ProxyConfig, Side, StaticRoute  # noqa: PLC0415

    kind = daemon.config.transport
    sides = tuple(Side(s.name, s.host, s.port, kind, s.alias) for s in plan.sides)
    routes = tuple(StaticRoute(r.match, r.side, _target(Target, kind, r.next_hop), r.zone)
                   for r in plan.routes)
    config = ProxyConfig(daemon.name, sides, routes, tuple(plan.registrar.items()))
    server_ssl, client_ssl = daemon.tls()
    ports = None
    if plan.source_ports is not None:
        first, _, last = plan.source_ports.partition("-")
        ports = (int(first), int(last or first))
    transport = TransportConfig(
        kind, tuple(Listener(x.host, x.port, x.side, x.zone) for x in plan.listeners),
        plan.local_host, ports, server_ssl=server_ssl, client_ssl=client_ssl)
    traversal = hostport(plan.traversal_server) if plan.traversal_server else None
    side = next((r.side for r in plan.routes if r.next_hop == plan.traversal_server), "")
    return SipProxy(config, transport, traversal=traversal, traversal_side=side)


def hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def _target(cls: Any, kind: str, hop: str | None) -> Any:
    if hop is None:
        return None
    host, port = hostport(hop)
    return cls(kind, host, port)


async def wait_for(cond: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Poll an in-process condition (a connection coming up) every few milliseconds."""
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise LabError(f"{what} did not happen within {within:g} s")
        await asyncio.sleep(0.002)


def main(serve: Callable[[Daemon], Awaitable[None]], argv: Sequence[str] | None = None) -> int:
    """Parse ``--config``/``--control``, set up logging, run ``serve`` until SIGTERM."""
    parser = argparse.ArgumentParser(description="a uclab node daemon")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--control", required=True, type=Path)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s.%(msecs)03d %(name)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    try:
        config = read_config(args.config)
    except LabError as exc:
        log.error("cannot start: %s", exc)
        return 2
    daemon = Daemon(config, args.control)
    try:
        asyncio.run(_run(daemon, serve))
    except LabError as exc:
        log.error("%s stopped: %s", config.node, exc)
        return 1
    except Exception as exc:
        log.exception("%s crashed", config.node)
        for leaf in leaves(exc):  # the cause on the log's last lines, in one line each
            log.error("%s stopped: %s", config.node, leaf)
        return 1
    log.info("%s stopped", config.node)
    return 0


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or ``exc`` itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


async def _run(daemon: Daemon, serve: Callable[[Daemon], Awaitable[None]]) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        async with asyncio.TaskGroup() as tg:
            daemon.tg = tg
            await serve(daemon)
    except asyncio.CancelledError:
        log.info("%s: stopping (signal)", daemon.name)
    finally:
        with contextlib.suppress(Exception):
            await daemon.control.close()
