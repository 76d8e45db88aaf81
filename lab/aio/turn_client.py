"""asyncio TURN client over TCP (RFC 8656 + RFC 6062), a thin adapter over
:class:`lab.proto.turn.client.TurnClientCore`.

    async with TurnClient(("10.48.54.229", 3478), "cms", "pw",
                          local_addr=("10.48.54.230", 33347), data_local_ports=[33348]) as c:
        alloc = await c.allocate()              # 401 retry handled; alloc.relayed, alloc.mapped
        await c.create_permission("192.168.1.252")
        stream = await c.accept()               # ConnectionAttempt -> ConnectionBind -> PeerStream
        stream = await c.connect(("192.168.1.229", 24000))   # Connect + ConnectionBind
    # leaving the block sends Refresh(LIFETIME=0) and closes the control connection

Refreshes of the allocation and of permissions run in the client's own TaskGroup. Every STUN
message sent or received can be observed through ``on_message`` (the ladder of ``turn-probe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from lab.aio.timers import sleep_until
from lab.aio.turn_io import CHUNK, addr_of, connect_tcp, open_stream
from lab.base.errors import LabError
from lab.proto.addr import Addr
from lab.proto.stun import PROTO_TCP, Message, ParseError, StunStreamFramer, parse
from lab.proto.turn.client import TurnClientCore
from lab.proto.turn.client_events import (
    CONTROL,
    Action,
    Allocated,
    Bound,
    ConnectionAttempt,
    DataReceived,
    Event,
    Failed,
    PeerConnected,
    Refreshed,
    SendToServer,
)
from lab.proto.turn.config import CLIENT_TIMEOUT

log = logging.getLogger(__name__)


class TurnError(LabError):
    """A TURN request failed: ``code`` is the server's STUN error code (0: local failure)."""

    def __init__(self, method: str, code: int, reason: str) -> None:
        self.method, self.code, self.reason = method, code, reason
        text = f"{method} failed: {code} {reason}" if code else f"{method} failed: {reason}"
        super().__init__(text)


@dataclass(frozen=True)
class Allocation:
    relayed: Addr
    mapped: Addr | None
    lifetime: int


@dataclass
class PeerStream:
    """A bound RFC 6062 data connection: plain bytes to and from ``peer``."""

    peer: Addr
    connection_id: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    local: Addr

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


@dataclass(frozen=True)
class Trace:
    """One STUN message on the wire, as seen by the client."""

    direction: str  # "send" or "recv"
    local: Addr
    remote: Addr
    message: Message


class TurnClient:
    """One TURN allocation over a TCP control connection, with RFC 6062 data connections."""

    def __init__(
        self,
        server: Addr,
        username: str,
        password: str,
        *,
        realm: str | None = None,
        local_addr: Addr | None = None,
        data_local_ports: Sequence[int] = (),
        software: str | None = "uclab",
        clock: Callable[[], float] = time.monotonic,
        on_message: Callable[[Trace], None] | None = None,
        timeout: float = CLIENT_TIMEOUT,
    ) -> None:
        self.server = server
        self.local_addr = local_addr
        self.data_local_ports = list(data_local_ports)
        self.clock = clock
        self.on_message = on_message
        self.timeout = timeout
        self.core = TurnClientCore(username, password, realm=realm, software=software)
        self.allocation: Allocation | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._channels: dict[str, socket.socket] = {}
        self._waiters: dict[int, asyncio.Future[Event]] = {}
        self._attempts: asyncio.Queue[ConnectionAttempt | None] = asyncio.Queue()
        self._datagrams: asyncio.Queue[DataReceived] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._timer_task: asyncio.Task[None] | None = None
        self._closed: str | None = None
        self._data_seq = itertools.count(1)
        self._ports_in_use: dict[int, socket.socket] = {}

    # --- life cycle -----------------------------------------------------------------------

    async def __aenter__(self) -> TurnClient:
        await self.open()
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the control connection (from ``local_addr`` if pinned) and start the loops."""
        async with asyncio.timeout(self.timeout):
            reader, self._writer = await open_stream(self.server, self.local_addr)
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._tg.create_task(self._read_loop(reader))
        self._timer_task = self._tg.create_task(self._timer_loop())

    async def close(self) -> None:
        """Delete the allocation (Refresh LIFETIME 0, RFC 8656 §7.2) and close everything."""
        if self._tg is None:
            return
        if self.allocation is not None and self._closed is None:
            with contextlib.suppress(TurnError, TimeoutError):
                async with asyncio.timeout(self.timeout):
                    await self.refresh(0)
        self._closed = self._closed or "closed by the application"
        if self._timer_task is not None:
            self._timer_task.cancel()
        if self._writer is not None:
            self._writer.close()
        tg, self._tg = self._tg, None
        await tg.__aexit__(None, None, None)

    def wake_timers(self) -> None:
        """Run the core's timers now (after a test moved the injected clock)."""
        self._wake.set()

    @property
    def control_local(self) -> Addr:
        """The control connection's local address (what the server sees as mapped)."""
        return addr_of(self._writer.get_extra_info("sockname")) if self._writer else ("?", 0)

    # --- commands -------------------------------------------------------------------------

    async def allocate(self, *, transport: int = PROTO_TCP, lifetime: int | None = None
                       ) -> Allocation:
        """Allocate a relayed address (TCP by default, RFC 6062 §4.1)."""
        ev = await self._command(self.core.allocate(self.clock(), transport=transport,
                                                    lifetime=lifetime))
        assert isinstance(ev, Allocated)  # the core answers an Allocate with Allocated
        self.allocation = Allocation(ev.relayed, ev.mapped, ev.lifetime)
        return self.allocation

    async def refresh(self, lifetime: int | None = None) -> int:
        ev = await self._command(self.core.refresh(self.clock(), lifetime))
        assert isinstance(ev, Refreshed)
        if ev.lifetime == 0:
            self.allocation = None
        return ev.lifetime

    async def create_permission(self, *hosts: str) -> None:
        """Install permissions for peer IPs (RFC 8656 §9); refreshed every 240 s."""
        await self._command(self.core.create_permission(self.clock(), hosts))

    async def connect(self, peer: Addr) -> PeerStream:
        """Connect (RFC 6062 §4.3), then ConnectionBind on a new connection."""
        ev = await self._command(self.core.connect(self.clock(), peer))
        assert isinstance(ev, PeerConnected)
        return await self.bind(ev.connection_id, ev.peer)

    async def accept(self) -> PeerStream:
        """Wait for the next ConnectionAttempt (RFC 6062 §4.4) and bind it."""
        attempt = await self.wait_attempt()
        return await self.bind(attempt.connection_id, attempt.peer)

    async def wait_attempt(self) -> ConnectionAttempt:
        """The next ConnectionAttempt indication, not yet bound."""
        attempt = await self._attempts.get()
        if attempt is None:
            self._attempts.put_nowait(None)
            raise TurnError("accept", 0, f"control connection ended: {self._closed}")
        return attempt

    async def bind(self, connection_id: int, peer: Addr) -> PeerStream:
        """ConnectionBind ``connection_id`` on a new data connection (RFC 6062 §4.3, §4.4),
        from the next free pinned data port; the result is a plain byte stream to ``peer``."""
        sock = await self.bind_socket(connection_id)
        reader, writer = await asyncio.open_connection(sock=sock, limit=CHUNK)
        return PeerStream(peer, connection_id, reader, writer,
                          addr_of(writer.get_extra_info("sockname")))

    async def bind_socket(self, connection_id: int) -> socket.socket:
        """Like :meth:`bind` but returns the bound data connection as a raw non-blocking
        socket (for bulk transfer without asyncio streams). Nothing beyond the ConnectionBind
        response has been read from it."""
        port = self._pick_port()
        host = self.local_addr[0] if self.local_addr else self.control_local[0]
        async with asyncio.timeout(self.timeout):
            sock = await connect_tcp(self.server, (host, port))
        if port:
            self._ports_in_use[port] = sock
        try:
            await self._bind_on(sock, connection_id)
        except BaseException:
            sock.close()
            raise
        return sock

    async def send(self, peer: Addr, data: bytes) -> None:
        """A Send indication (UDP allocations, RFC 8656 §10)."""
        self.core.send_indication(peer, data)
        self._dispatch(self.core.actions())
        if self._writer is not None:
            await self._writer.drain()

    async def receive(self) -> tuple[Addr, bytes]:
        """The next Data indication (UDP allocations, RFC 8656 §11.4)."""
        ev = await self._datagrams.get()
        return ev.peer, ev.data

    # --- plumbing -------------------------------------------------------------------------

    async def _command(self, handle: int) -> Event:
        """Send the request of the command just started (queued in the core) and wait for
        its result."""
        started = self.core.actions()
        if self._writer is None or self._closed:
            method = next((a.message.method.name for a in started
                           if isinstance(a, SendToServer)), "request")
            raise TurnError(method, 0, f"not connected ({self._closed or 'call open() first'})")
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters[handle] = fut
        self._dispatch(started)
        await self._writer.drain()
        return await fut

    def _pick_port(self) -> int:
        for port in self.data_local_ports:
            sock = self._ports_in_use.get(port)
            if sock is None or sock.fileno() == -1:
                return port
        return 0

    async def _bind_on(self, sock: socket.socket, connection_id: int) -> None:
        """ConnectionBind on ``sock``, reading exactly the response (RFC 6062 §4.3)."""
        loop = asyncio.get_running_loop()
        channel = f"data-{next(self._data_seq)}"
        self._channels[channel] = sock
        handle = self.core.connection_bind(self.clock(), connection_id, channel)
        fut: asyncio.Future[Event] = loop.create_future()
        self._waiters[handle] = fut
        try:
            self._dispatch(self.core.actions())
            async with asyncio.timeout(self.timeout):
                while not fut.done():
                    head = await _recv_exactly(sock, 20)
                    raw = head + await _recv_exactly(sock, struct.unpack("!H", head[2:4])[0])
                    self._trace("recv", sock, raw)
                    self.core.receive(raw, self.clock())
                    self._dispatch(self.core.actions())
            ev = fut.result()
        except (OSError, ParseError, TimeoutError) as exc:
            raise TurnError("ConnectionBind", 0, f"data connection failed: {exc!r}") from exc
        finally:
            self._channels.pop(channel, None)
            self._waiters.pop(handle, None)
        assert isinstance(ev, Bound)  # the core answers a ConnectionBind with Bound or Failed

    def _trace(self, direction: str, conn: asyncio.StreamWriter | socket.socket,
               raw: bytes) -> None:
        if self.on_message is None:
            return
        try:
            msg = parse(raw)
        except ParseError:
            return
        if isinstance(conn, socket.socket):
            local, remote = addr_of(conn.getsockname()), addr_of(conn.getpeername())
        else:
            local = addr_of(conn.get_extra_info("sockname"))
            remote = addr_of(conn.get_extra_info("peername"))
        self.on_message(Trace(direction, local, remote, msg))

    def _dispatch(self, actions: list[Action]) -> None:
        """Handle what the core handed out (:meth:`TurnClientCore.actions`), in order."""
        for ev in actions:
            if isinstance(ev, SendToServer):
                self._write(ev)
            elif isinstance(ev, ConnectionAttempt):
                self._attempts.put_nowait(ev)
            elif isinstance(ev, DataReceived):
                self._datagrams.put_nowait(ev)
            else:
                self._resolve(ev)
        self._wake.set()

    def _write(self, ev: SendToServer) -> None:
        if ev.channel != CONTROL:
            sock = self._channels.get(ev.channel)
            if sock is not None:
                self._trace("send", sock, ev.data)
                with contextlib.suppress(OSError):
                    sock.send(ev.data)  # a fresh connection: its send buffer is empty
                return
        elif self._writer is not None and not self._writer.is_closing():
            self._trace("send", self._writer, ev.data)
            self._writer.write(ev.data)
            return
        log.warning("TURN client: channel %s is gone, dropping %s", ev.channel,
                    ev.message.describe())

    def _resolve(self, ev: Event) -> None:
        handle = getattr(ev, "handle", None)
        fut = self._waiters.pop(handle, None) if isinstance(handle, int) else None
        if isinstance(ev, Failed):
            if fut is None:
                log.warning("TURN client: background %s failed: %s %s", ev.method.name,
                            ev.code, ev.reason)
            elif not fut.done():
                fut.set_exception(TurnError(ev.method.name, ev.code, ev.reason))
        elif fut is not None and not fut.done():
            fut.set_result(ev)

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        framer = StunStreamFramer()
        why = "server closed the control connection"
        try:
            while data := await reader.read(65536):
                framer.feed(data)
                for frame in framer.frames():
                    if self._writer is not None:
                        self._trace("recv", self._writer, frame)
                    self.core.receive(frame, self.clock())
                    self._dispatch(self.core.actions())
        except ParseError as exc:
            why = f"garbage from the server: {exc}"
            log.warning("TURN client: %s", why)
        except OSError as exc:
            why = f"control connection error: {exc}"
        self._closed = self._closed or why
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(TurnError("request", 0, why))
        self._waiters.clear()
        self._attempts.put_nowait(None)
        if self._timer_task is not None:
            self._timer_task.cancel()

    async def _timer_loop(self) -> None:
        while True:
            await sleep_until(self.core.next_deadline(), self.clock, self._wake)
            self.core.handle_timer(self.clock())
            events = self.core.actions()
            if events:
                self._dispatch(events)
                if self._writer is not None:
                    with contextlib.suppress(OSError):
                        await self._writer.drain()


async def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes from a non-blocking socket, never more (what follows a
    ConnectionBind response is the peer's data)."""
    loop = asyncio.get_running_loop()
    buf = b""
    while len(buf) < n:
        chunk = await loop.sock_recv(sock, n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf
