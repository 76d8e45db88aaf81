"""asyncio transport of the SIP cores: TCP or TLS listeners and connections (RFC 3261 §18).

A thin adapter: each connection's read loop feeds a :class:`SipStreamFramer`, parses frames
and hands them to the core; :meth:`SipTransport.pump` carries out the core's :class:`SendSip`
items. Peer garbage is answered (400/413) when a response can be built, and the connection is
closed when the framing is lost or nothing can be answered; the transport goes on serving the
others. New outbound connections may take their source port from a range (Expressway:
25000-29999). A zone connection (traversal client) is kept up by a
:class:`lab.proto.sip.keepalive.FlowKeeper`: RFC 5626 CRLF pings, aborted when the pong is
overdue, reconnected with back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from lab.proto.addr import Addr
from lab.proto.sip.core import Endpoint, Flow, SendSip
from lab.proto.sip.errors import ParseError
from lab.proto.sip.framing import (
    CRLF,
    PING,
    Event,
    Frame,
    FramingError,
    Ping,
    Pong,
    SipStreamFramer,
)
from lab.proto.sip.keepalive import FlowKeeper, KeepAction
from lab.proto.sip.message import Message, Request, error_response, parse
from lab.proto.sip.proxy import ProxyCore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    side: str = ""
    zone: str | None = None  # connections accepted here are the zone's flow (traversal)


@dataclass(frozen=True)
class TransportConfig:
    transport: str = "tls"
    listeners: tuple[Listener, ...] = ()
    local_host: str | None = None  # source address of new outbound connections
    source_ports: tuple[int, int] | None = None
    server_ssl: ssl.SSLContext | None = None
    client_ssl: ssl.SSLContext | None = None
    max_header: int = 16384
    max_body: int = 65536
    keepalive: float = 10.0  # RFC 5626 ping interval on a zone connection we opened
    pong_timeout: float = 10.0  # no pong within this: the zone connection is dead
    connect_timeout: float = 5.0  # a zone connection (TCP and TLS) not up within this failed


@dataclass(eq=False)
class Connection:
    flow: Flow
    writer: asyncio.StreamWriter
    framer: SipStreamFramer
    peer: Addr
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    keeper: FlowKeeper | None = None  # set on a zone connection we keep up


class SipTransport:
    def __init__(self, core: Endpoint, config: TransportConfig) -> None:
        self.core = core
        self.config = config
        self.conns: dict[int, Connection] = {}
        self.pool: dict[Addr, int] = {}
        self.pending: dict[Addr, list[SendSip]] = {}
        self.ids = itertools.count(1)
        self.tasks: asyncio.TaskGroup | None = None
        self.servers: list[asyncio.Server] = []
        self.ready = asyncio.Event()
        self.zone_failure: str | None = None  # why the last zone connection attempt failed

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def serve(self) -> None:
        """Listen, run the timers, keep going until cancelled; then close every listener and
        connection (the ports are free again when this returns)."""
        try:
            async with asyncio.TaskGroup() as tg:
                self.tasks = tg
                for key in self.pending:  # sends made before serve() started
                    tg.create_task(self._open(key))
                for lst in self.config.listeners:
                    srv = await asyncio.start_server(
                        self._acceptor(lst), lst.host, lst.port,
                        ssl=self.config.server_ssl, reuse_address=True)
                    self.servers.append(srv)
                    log.info("%s: listening on %s:%s (%s)", self.core.name, lst.host, lst.port,
                             self.config.transport)
                tg.create_task(self._timers())
                self.ready.set()
        finally:
            self._close_all()

    async def close(self) -> None:
        self._close_all()

    def _close_all(self) -> None:
        for srv in self.servers:
            srv.close()
        for conn in list(self.conns.values()):
            conn.writer.close()

    # --- sending ---------------------------------------------------------------------------
    def pump(self) -> None:
        for send in self.core.actions():
            self._send(send)

    def _send(self, send: SendSip) -> None:
        target = send.target
        flow_id = target.flow if target.flow is not None else self.pool.get(
            (target.host, target.port))
        conn = self.conns.get(flow_id) if flow_id is not None else None
        if conn is not None:
            self._write(conn, send.message)
            return
        if target.flow is not None or not target.host:
            log.warning("%s: flow %s is gone, %s dropped", self.core.name, target.flow,
                        _what(send.message))
            return
        key = (target.host, target.port)
        queued = self.pending.setdefault(key, [])
        queued.append(send)
        if len(queued) == 1 and self.tasks is not None:
            self.tasks.create_task(self._open(key))

    def _write(self, conn: Connection, message: Message) -> None:
        log.debug("%s: -> flow %s %s", self.core.name, conn.flow.id, _what(message))
        conn.writer.write(message.encode())

    async def connect(self, host: str, port: int, side: str = "") -> Connection:
        """Open a connection (source port from the configured range) and serve it."""
        local = None
        if self.config.local_host is not None:
            local = (self.config.local_host, self._source_port())
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            if local is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(local)
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except OSError:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(
            sock=sock, ssl=self.config.client_ssl,
            server_hostname=host if self.config.client_ssl else None)
        conn = self._register(reader, writer, side)
        self.pool[(host, port)] = conn.flow.id
        if self.tasks is not None:
            self.tasks.create_task(self._read(reader, conn))
        return conn

    def _source_port(self) -> int:
        if self.config.source_ports is None:
            return 0
        low, high = self.config.source_ports
        return random.randint(low, high)  # noqa: S311 (a port, not a secret)

    async def _open(self, key: Addr) -> None:
        try:
            async with asyncio.timeout(5.0):  # not wait_for: 3.11's may swallow a cancel
                conn = await self.connect(*key)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            log.warning("%s: cannot connect to %s:%s: %s", self.core.name, *key, exc)
            for send in self.pending.pop(key, []):
                self.core.transport_failed(send.target, send.message, self.now())
            self.pump()
            return
        for send in self.pending.pop(key, []):
            self._write(conn, send.message)

    # --- receiving -------------------------------------------------------------------------
    def _register(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  side: str) -> Connection:
        peer = writer.get_extra_info("peername")[:2]
        sock = writer.get_extra_info("socket")
        if sock is not None:  # no Nagle: a 200 OK must not wait for the ACK of a 100 Trying
            with contextlib.suppress(OSError):  # (delayed ACK, ~40 ms per hop)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        flow = Flow(next(self.ids), self.config.transport, side)
        conn = Connection(flow, writer, SipStreamFramer(self.config.max_header,
                                                        self.config.max_body), peer)
        self.conns[flow.id] = conn
        return conn

    def _acceptor(self, lst: Listener) -> Callable[
            [asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(asyncio.CancelledError):  # the loop is closing: a task of
                await self._accepted(reader, writer, lst)  # asyncio.streams', not ours to
        return accepted  # propagate (3.11 would log the cancelled task as an error)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        lst: Listener) -> None:
        conn = self._register(reader, writer, lst.side)
        log.info("%s: flow %s accepted from %s:%s on %s", self.core.name, conn.flow.id,
                 *conn.peer, lst.port)
        if lst.zone is not None and isinstance(self.core, ProxyCore):
            self.core.flow_up(lst.zone, conn.flow)
        await self._read(reader, conn)

    async def _read(self, reader: asyncio.StreamReader, conn: Connection) -> None:
        try:
            while data := await reader.read(65536):
                if not self._received(conn, data):
                    break
        except (ConnectionError, ssl.SSLError) as exc:
            log.info("%s: flow %s: %s", self.core.name, conn.flow.id, exc)
        finally:
            self._closed(conn)

    def _received(self, conn: Connection, data: bytes) -> bool:
        """Serve what ``data`` completes; False when the connection must close."""
        error: FramingError | None = None
        try:
            events = conn.framer.feed(data)
        except FramingError as exc:
            events, error = exc.events, exc  # what came before the garbage is served first
        keep = self._serve(conn, events)
        if keep and error is not None:
            log.warning("%s: flow %s from %s:%s: %s; closing", self.core.name, conn.flow.id,
                        *conn.peer, error.reason)
            if error.status is not None and error.head is not None:
                self._refuse(conn, error.head, error.status, error.reason)
            keep = False
        self.pump()
        return keep

    def _serve(self, conn: Connection, events: list[Event]) -> bool:
        for event in events:
            if isinstance(event, Ping):
                conn.writer.write(CRLF)
            elif isinstance(event, Pong) and conn.keeper is not None:
                conn.keeper.pong(self.now())
            elif isinstance(event, Frame) and not self._frame(conn, event.data):
                return False
        return True

    def _frame(self, conn: Connection, data: bytes) -> bool:
        """Parse and hand over one frame; False when it was refused without an answer (the
        connection is then closed: a peer that sends that is not one to keep talking to)."""
        try:
            msg = parse(data)
        except ParseError as exc:
            answered = exc.status is not None and self._refuse(conn, data, exc.status,
                                                               exc.reason)
            log.warning("%s: flow %s from %s:%s: unparsable message: %s; %s", self.core.name,
                        conn.flow.id, *conn.peer, exc.reason,
                        f"answered {exc.status}" if answered else "closing")
            return answered
        log.debug("%s: <- flow %s %s", self.core.name, conn.flow.id, _what(msg))
        self.core.receive(msg, conn.flow, self.now())
        return True

    def _refuse(self, conn: Connection, head: bytes, status: int, reason: str) -> bool:
        resp = error_response(head, status, reason[:60])
        if resp is not None:
            conn.writer.write(resp.encode())
        return resp is not None

    def _closed(self, conn: Connection) -> None:
        self.conns.pop(conn.flow.id, None)
        for key, fid in list(self.pool.items()):
            if fid == conn.flow.id:
                del self.pool[key]
        self.core.flow_down(conn.flow.id)
        conn.closed.set()
        with contextlib.suppress(Exception):
            conn.writer.close()

    async def _timers(self) -> None:
        while True:
            deadline = self.core.next_deadline()
            delay = 1.0 if deadline is None else max(0.0, min(1.0, deadline - self.now()))
            await asyncio.sleep(delay)
            self.core.handle_timer(self.now())
            self.pump()

    # --- zone client (traversal) -------------------------------------------------------------
    async def keep_connected(self, host: str, port: int, side: str = "",
                             max_backoff: float = 30.0) -> None:
        """Open and keep a connection to ``host:port``: what to do and when is the
        :class:`FlowKeeper`'s (CRLF pings, abort when a pong is overdue, reconnect with
        back-off); this loop only carries it out."""
        keeper = FlowKeeper(self.now(), self.config.keepalive, self.config.pong_timeout,
                            backoff_max=max_backoff)
        conn: Connection | None = None
        while True:
            for action in keeper.handle_timer(self.now()):
                if action is KeepAction.CONNECT:
                    conn = await self._zone_connect(keeper, host, port, side)
                elif conn is not None and action is KeepAction.PING:
                    conn.framer.ping_sent()
                    conn.writer.write(PING)
                elif conn is not None and action is KeepAction.CLOSE:
                    log.warning("%s: zone connection %s to %s:%s: no pong within %.1f s; "
                                "closing", self.core.name, conn.flow.id, host, port,
                                keeper.pong_timeout)
                    conn.writer.transport.abort()
            if conn is not None and conn.closed.is_set():
                again = keeper.lost(self.now())
                log.warning("%s: zone connection %s to %s:%s lost; reconnecting in %.1f s",
                            self.core.name, conn.flow.id, host, port, again - self.now())
                conn = None
            deadline = keeper.next_deadline()
            wait = 1.0 if deadline is None else max(0.0, deadline - self.now())
            if conn is None:
                await asyncio.sleep(wait)
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await conn.closed.wait()

    async def _zone_connect(self, keeper: FlowKeeper, host: str, port: int,
                            side: str) -> Connection | None:
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                conn = await self.connect(host, port, side)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            again = keeper.connect_failed(self.now())
            self.zone_failure = str(exc) or type(exc).__name__
            log.warning("%s: zone connection to %s:%s failed: %s; retry in %.1f s",
                        self.core.name, host, port, self.zone_failure, again - self.now())
            return None
        keeper.connected(self.now())
        conn.keeper = keeper
        log.info("%s: zone connection %s up to %s:%s", self.core.name, conn.flow.id, host, port)
        return conn


def _what(msg: Message) -> str:
    if isinstance(msg, Request):
        return f"{msg.method} {msg.uri}"
    return f"{msg.status} {msg.reason} ({msg.get('CSeq')})"
