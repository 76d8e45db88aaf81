"""ICE over TCP, asyncio side: gathering, checks on real connections, the selected stream.

A thin adapter over :class:`lab.proto.ice.IceAgent` (which decides everything, time being an
argument). This module owns the sockets and TURN allocations behind the local candidates:

* :class:`IceGatherer` (:mod:`lab.aio.ice_gather`) opens host listeners, reserves host active
  ports, allocates TCP relays on TURN servers and records the server-reflexive address a TURN
  server saw; it returns ``CandidateSpec`` values for the SDP builders, in gathering order;
* :class:`IceSession` runs the agent: an active check opens a TCP connection from a host port,
  or asks the TURN server to Connect (RFC 6062 §4.3) on the allocation chosen for that
  candidate; incoming connections arrive on host listeners or as ConnectionAttempts (RFC 6062
  §4.4); STUN goes both ways framed per RFC 4571; failures carry the real reason (no route,
  refused, timeout, the TURN error code);
* :class:`IceStream` is the selected connection: RFC 4571 frames in and out, STUN still
  answered underneath (RFC 7983 demultiplexing: first byte 0-3 is STUN).

    gatherer = IceGatherer()
    await gatherer.host_passive("10.48.54.230", 38547)
    relay = await gatherer.relay_passive(TurnClient(...))         # the session owns the client
    cands = rfc5245_candidates(gatherer.specs)                    # lab.proto.sdp
    async with IceSession(gatherer, cands, controlling=False, ufrag=u, pwd=p) as ice:
        await ice.set_remote(r_ufrag, r_pwd, remote_candidates)  # permissions, then checks
        result = await ice.completed()                            # IceResult or IceFailed
        result.stream.write_frame(rtp); frame = await result.stream.read_frame()
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from lab.aio.ice_gather import IceGatherer, RelayHandle, key_of
from lab.aio.timers import sleep_until
from lab.aio.turn_client import TurnError
from lab.aio.turn_io import addr_of, connect_tcp
from lab.base.errors import LabError
from lab.proto.addr import Addr
from lab.proto.ice import (
    Action,
    CandidatePair,
    Close,
    Connect,
    Failed,
    IceAgent,
    IceConfig,
    PairReport,
    Selected,
    SendStun,
)
from lab.proto.sdp import Candidate
from lab.proto.stun import ParseError, Rfc4571Framer

__all__ = ["IceFailed", "IceGatherer", "IceResult", "IceSession", "IceStream", "RelayHandle",
           "failure_reason"]

log = logging.getLogger(__name__)
STREAM_QUEUE = 1024
READ_SIZE = 1 << 16


class IceFailed(LabError):
    """ICE ended without a selected pair; ``report`` says what became of every pair."""

    def __init__(self, reason: str, report: list[PairReport]) -> None:
        lines = "\n  ".join(str(r) for r in report)
        super().__init__(f"ICE failed: {reason}\n  {lines}" if report else f"ICE failed: {reason}")
        self.reason, self.report = reason, report


# --- the selected stream ------------------------------------------------------------------


@dataclass
class _Conn:
    id: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    local: Addr
    remote: Addr
    early: list[bytes] = field(default_factory=list)
    selected: bool = False


class IceStream:
    """The selected connection: RFC 4571 frames of media; STUN underneath stays with ICE."""

    def __init__(self, session: IceSession, conn: _Conn, pair: CandidatePair) -> None:
        self.session, self.pair = session, pair
        self.local, self.remote = conn.local, conn.remote
        self._writer = conn.writer
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(STREAM_QUEUE)
        for frame in conn.early:
            self._queue.put_nowait(frame)
        self.closed = False

    async def read_frame(self) -> bytes | None:
        """The next non-STUN frame (RTP/RTCP), or None when the connection has ended."""
        frame = await self._queue.get()
        if frame is None:
            self._queue.put_nowait(None)
        return frame

    async def deliver(self, frame: bytes | None) -> None:
        """Queue a received frame for :meth:`read_frame` (None: the end); waits when full."""
        await self._queue.put(frame)

    def write_frame(self, payload: bytes) -> None:
        self._writer.write(Rfc4571Framer.frame(payload))

    def write_frames(self, payloads: Sequence[bytes]) -> None:
        self._writer.write(b"".join(Rfc4571Framer.frame(p) for p in payloads))

    async def drain(self) -> None:
        await self._writer.drain()

    async def close(self) -> None:
        self.closed = True
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


@dataclass
class IceResult:
    """A selected pair, its connected stream, and what became of every pair."""

    pair: CandidatePair
    stream: IceStream
    report: list[PairReport]


# --- the session --------------------------------------------------------------------------


def _fmt(addr: Addr) -> str:
    return f"{addr[0]}:{addr[1]}"


def failure_reason(exc: BaseException, what: str) -> str:
    """The real reason of a failed connection, for the check-list report."""
    if isinstance(exc, TurnError):
        return f"TURN {exc.method} {what}: {exc.code} {exc.reason}".replace(" 0 ", " ")
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        kind = {errno.ENETUNREACH: "no route", errno.EHOSTUNREACH: "no route",
                errno.ECONNREFUSED: "refused", errno.ETIMEDOUT: "timeout"}.get(exc.errno, "error")
        return f"{kind}: {what} ({name}: {os.strerror(exc.errno)})"
    return f"error: {what} ({exc!r})"


class IceSession:
    """Runs one :class:`IceAgent` on real connections; an async context manager."""

    def __init__(self, gatherer: IceGatherer, local_candidates: Sequence[Candidate], *,
                 controlling: bool, ufrag: str, pwd: str, config: IceConfig | None = None,
                 tie_breaker: int | None = None) -> None:
        self.gatherer = gatherer
        self.agent = IceAgent(controlling=controlling, local_ufrag=ufrag, local_pwd=pwd,
                              local_candidates=local_candidates, config=config,
                              tie_breaker=tie_breaker)
        self.clock = time.monotonic
        self._conns: dict[int, _Conn] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._loops: set[asyncio.Task[None]] = set()
        self._tg: asyncio.TaskGroup | None = None
        self._wake = asyncio.Event()
        self._done: asyncio.Future[IceResult] = asyncio.get_running_loop().create_future()
        self.stream: IceStream | None = None

    async def __aenter__(self) -> IceSession:
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._loop_task(self._timer_loop())
        for cand in self.agent.local_candidates:
            if cand.component != 1 or cand.direction != "passive":
                continue
            res = self.gatherer.resource(cand)
            if res.listener is not None:
                self._loop_task(self._accept_host(cand, res.listener))
            elif res.relay is not None:
                self._loop_task(self._accept_relay(cand, res.relay))
        return self

    def _loop_task(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._tg is not None:
            task = self._tg.create_task(coro)
            self._loops.add(task)
            task.add_done_callback(self._loops.discard)

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection (the stream too), the listeners and the TURN allocations."""
        if not self._done.done():
            self._done.set_exception(IceFailed("session closed", self.agent.report()))
            self._done.exception()  # retrieved: no "never retrieved" warning
        tg, self._tg = self._tg, None
        if tg is not None:
            for task in [*self._loops, *self._tasks.values()]:
                task.cancel()
            await tg.__aexit__(None, None, None)
        for conn in list(self._conns.values()):
            conn.writer.close()
        self._conns.clear()
        await self.gatherer.close()

    async def set_remote(self, ufrag: str, pwd: str, candidates: Sequence[Candidate]) -> None:
        """The peer's candidates: permissions on our passive relays first (RFC 8445 §7.2.1,
        RFC 6062 §4.4), then the checks start."""
        await self._permissions(candidates)
        self.agent.set_remote(ufrag, pwd, candidates, self.clock())
        self._flush()

    async def completed(self) -> IceResult:
        """Wait for the selected pair (raises :class:`IceFailed` with the report). The agent's
        own overall timeout bounds the wait (IceConfig.overall_timeout)."""
        return await asyncio.shield(self._done)

    async def _permissions(self, candidates: Sequence[Candidate]) -> None:
        hosts = list(dict.fromkeys(c.address for c in candidates
                                   if c.component == 1 and c.direction == "active"))
        if not hosts:
            return
        for cand in self.agent.local_candidates:
            res = self.gatherer.resources.get(key_of(cand))
            if cand.component == 1 and res is not None and res.kind == "relay-passive":
                assert res.relay is not None  # relay-passive resources carry their relay
                try:
                    await res.relay.client.create_permission(*hosts)
                except TurnError as exc:
                    log.warning("CreatePermission %s on %s: %s", hosts, res.relay.relayed, exc)

    # --- agent plumbing -----------------------------------------------------------------

    def _flush(self) -> None:
        for action in self.agent.actions():
            self._perform(action)
        self._wake.set()

    def _perform(self, action: Action) -> None:
        if isinstance(action, Connect):
            self._spawn(action.conn, self._connect(action.conn, action.pair))
        elif isinstance(action, SendStun):
            conn = self._conns.get(action.conn)
            if conn is not None and not conn.writer.is_closing():
                log.debug("conn %d: -> %s (%d bytes)", action.conn, action.what, len(action.data))
                conn.writer.write(Rfc4571Framer.frame(action.data))
        elif isinstance(action, Close):
            self._drop(action.conn)
        elif isinstance(action, Selected):
            self._select(action)
        elif isinstance(action, Failed) and not self._done.done():
            self._done.set_exception(IceFailed(action.reason, self.agent.report()))

    def _spawn(self, conn_id: int, coro: Coroutine[Any, Any, None]) -> None:
        if self._tg is None:
            coro.close()
            return
        task = self._tg.create_task(coro)
        self._tasks[conn_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(conn_id, None))

    def _drop(self, conn_id: int) -> None:
        conn = self._conns.pop(conn_id, None)
        if conn is not None:
            conn.writer.close()
        task = self._tasks.pop(conn_id, None)
        if task is not None and not task.done():
            task.cancel()

    def _select(self, action: Selected) -> None:
        conn = self._conns[action.conn]
        conn.selected = True
        self.stream = IceStream(self, conn, action.pair)
        if not self._done.done():
            self._done.set_result(IceResult(action.pair, self.stream, self.agent.report()))

    async def _timer_loop(self) -> None:
        while True:
            await sleep_until(self.agent.next_deadline(), self.clock, self._wake)
            self.agent.handle_timer(self.clock())
            self._flush()

    # --- connections ----------------------------------------------------------------------

    async def _connect(self, conn_id: int, pair: CandidatePair) -> None:
        remote = (pair.remote.address, pair.remote.port)
        what = f"to {_fmt(remote)}"
        try:
            res = self.gatherer.resource(pair.local)
            if res.kind == "relay-active" and res.relay is not None:
                what = f"from {_fmt(res.relay.relayed)} to {_fmt(remote)}"
                peer = await res.relay.client.connect(remote)
                reader, writer, local = peer.reader, peer.writer, peer.local
            else:
                assert res.local is not None  # active resources carry their bind address
                what = f"from {_fmt(res.local)} to {_fmt(remote)}"
                sock = await connect_tcp(remote, res.local)
                reader, writer = await asyncio.open_connection(sock=sock, limit=READ_SIZE)
                local = res.local
        except (OSError, TurnError) as exc:
            self.agent.connect_failed(conn_id, failure_reason(exc, what), self.clock())
            self._flush()
            return
        except Exception as exc:  # one pair's surprise must not end the other checks
            log.exception("check connection %d failed unexpectedly", conn_id)
            self.agent.connect_failed(conn_id, failure_reason(exc, what), self.clock())
            self._flush()
            return
        self._open(conn_id, reader, writer, local, remote)
        self.agent.connected(conn_id, self.clock())
        self._flush()
        await self._read_loop(self._conns[conn_id])

    def _open(self, conn_id: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
              local: Addr, remote: Addr) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conns[conn_id] = _Conn(conn_id, reader, writer, local, remote)

    async def _accept_host(self, cand: Candidate, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, peer = await loop.sock_accept(listener)
                reader, writer = await asyncio.open_connection(sock=sock, limit=READ_SIZE)
            except OSError as exc:
                log.info("listener %s:%d: no more connections: %s", cand.address, cand.port, exc)
                return
            self._incoming(cand, reader, writer, (cand.address, cand.port), addr_of(peer))

    async def _accept_relay(self, cand: Candidate, relay: RelayHandle) -> None:
        while True:
            try:
                peer = await relay.client.accept()
            except TurnError as exc:
                log.info("relay %s: no more peer connections: %s", relay.relayed, exc)
                return
            self._incoming(cand, peer.reader, peer.writer, peer.local, peer.peer)

    def _incoming(self, cand: Candidate, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter, local: Addr, peer: Addr) -> None:
        conn_id = self.agent.incoming(cand, peer, self.clock())
        log.info("conn %d: %s:%d connected to %s", conn_id, peer[0], peer[1], cand)
        self._open(conn_id, reader, writer, local, peer)
        self._spawn(conn_id, self._read_loop(self._conns[conn_id]))

    async def _read_loop(self, conn: _Conn) -> None:
        framer = Rfc4571Framer()
        why = "closed by peer"
        try:
            while data := await conn.reader.read(READ_SIZE):
                framer.feed(data)
                for frame in framer.frames():
                    await self._frame(conn, frame)
        except ParseError as exc:
            why = f"bad framing: {exc}"
        except OSError as exc:
            why = f"error: {exc}"
        if conn.selected and self.stream is not None:
            await self.stream.deliver(None)
        if self._conns.pop(conn.id, None) is not None:
            conn.writer.close()
            self.agent.connection_lost(conn.id, why, self.clock())
            self._flush()

    async def _frame(self, conn: _Conn, frame: bytes) -> None:
        if frame and frame[0] < 4:  # RFC 7983 §7: 0-3 is STUN
            self.agent.frame_received(conn.id, frame, self.clock())
            self._flush()
        elif conn.selected and self.stream is not None:
            await self.stream.deliver(frame)
        else:
            conn.early.append(frame)
