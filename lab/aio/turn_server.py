"""asyncio TURN server over TCP (RFC 8656 + RFC 6062), a thin adapter over
:class:`lab.proto.turn.server.TurnServerCore`.

    server = TurnServer(TurnServerConfig(listen=(("10.48.54.229", 3478),),
                        relay_ip="192.168.1.229", relay_ports=tuple(range(24000, 30000)),
                        realm="TANDBERG", users={"cms": "secret"}))
    await server.serve()          # until cancelled; server.ready is set once listening

The adapter owns the sockets: client connections (framed with ``StunStreamFramer``), relay
listening sockets bound with SO_REUSEADDR + SO_REUSEPORT so that the relay can also connect
*from* the relayed address (RFC 6062 §5.2), peer connections whose early bytes are buffered up to
``peer_buffer`` (then the peer is simply not read: TCP flow control holds the rest) until
ConnectionBind, and the raw bridge (:func:`lab.aio.turn_io.bridge`) after it.

The clock is injectable (``clock=``) and :meth:`TurnServer.wake_timers` re-runs the core's
timers, so a test can drive the 30 s bind timer without sleeping.

Robustness: whatever goes wrong in one connection's handling ends that connection only (every
task runs under :meth:`TurnServer._contained`); out of descriptors, accept sheds the new
connection (:class:`~lab.aio.turn_io.FdReserve`) and goes on; client connections are limited
(``max_client_connections``, else what the descriptor limit allows); each connection yields to
the others after every message; writes to a client go through its
:class:`~lab.aio.turn_io.Outbox`, so neither the timers nor any other connection waits on a
client that does not read, and one that lets ``send_queue`` bytes pile up is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from lab.aio.timers import sleep_until
from lab.aio.turn_io import (
    EXHAUSTED,
    FdReserve,
    Outbox,
    addr_of,
    bridge,
    connection_budget,
    family_of,
    tcp_socket,
)
from lab.base.errors import LabError
from lab.proto.addr import Addr
from lab.proto.stun import PROTO_TCP, ParseError, StunStreamFramer
from lab.proto.turn.config import TurnServerConfig
from lab.proto.turn.server import TurnServerCore
from lab.proto.turn.state import (
    Action,
    CloseConnection,
    ClosePeer,
    CloseRelay,
    ConnectPeer,
    OpenRelay,
    SendToClient,
    SendToPeer,
    StartBridge,
)

log = logging.getLogger(__name__)

UDP_BATCH = 64  # datagrams read per readiness callback before the others get their turn


@dataclass
class _Client:
    conn: int
    sock: socket.socket
    remote: Addr
    outbox: Outbox
    bridging: bool = False


class _Peer:
    """A peer connection before ConnectionBind: its first bytes are kept, up to a cap."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, cap: int,
                 on_eof: Callable[[], None]) -> None:
        self.loop, self.sock, self.cap, self.on_eof = loop, sock, cap, on_eof
        self.buffer = bytearray()
        self.reading = True
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data = self.sock.recv(max(1, self.cap - len(self.buffer)))
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.stop()
            self.on_eof()
            return
        self.buffer += data
        if len(self.buffer) >= self.cap:
            log.info("TURN: peer buffer full (%d bytes) before ConnectionBind; pausing", self.cap)
            self.stop()

    def stop(self) -> None:
        if self.reading:
            self.reading = False
            with contextlib.suppress(ValueError, OSError):
                self.loop.remove_reader(self.sock.fileno())

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


@dataclass
class _UdpClient:
    """A client speaking TURN over UDP: one 5-tuple (its address at one listening socket) is
    one "connection" for the core (RFC 8656 §2.2: the allocation's 5-tuple)."""

    conn: int
    sock: socket.socket
    addr: Addr


class TurnServer:
    """A TURN server listening on ``config.listen`` (TCP) and ``config.listen_udp`` (UDP)."""

    def __init__(self, config: TurnServerConfig, *, clock: Callable[[], float] = time.monotonic,
                 nonce_secret: bytes | None = None) -> None:
        self.config = config
        self.clock = clock
        self.core = TurnServerCore(config, nonce_secret=nonce_secret)
        self.ready = asyncio.Event()
        self.relayed_bytes = 0
        self._clients: dict[int, _Client] = {}
        self._peers: dict[int, _Peer] = {}
        self._relays: dict[int, socket.socket] = {}
        self._tasks: dict[Addr, asyncio.Task[None]] = {}
        self._udp: dict[int, _UdpClient] = {}
        self._udp_by_addr: dict[tuple[int, Addr], int] = {}
        self._conn_ids = itertools.count(1)
        self._tg: asyncio.TaskGroup | None = None
        self._wake = asyncio.Event()
        self._reserve: FdReserve | None = None
        self._max_clients = config.max_client_connections or connection_budget()
        self._last_shed_log = -1.0

    # --- life cycle -----------------------------------------------------------------------

    async def serve(self) -> None:
        """Listen and serve until cancelled."""
        listeners = [self._listen(addr) for addr in self.config.listen]
        udp = [self._listen_udp(addr) for addr in self.config.listen_udp]
        self._reserve = FdReserve()
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for sock in listeners:
                    tg.create_task(self._accept_loop(sock))
                for sock in udp:
                    asyncio.get_running_loop().add_reader(sock.fileno(), self._udp_readable,
                                                          sock)
                tg.create_task(self._timer_loop())
                self.ready.set()
        finally:
            for sock in udp:
                with contextlib.suppress(ValueError, OSError):
                    asyncio.get_running_loop().remove_reader(sock.fileno())
                sock.close()
            for sock in listeners:
                sock.close()
            for peer in self._peers.values():
                peer.close()
            for relay in self._relays.values():
                relay.close()
            for client in self._clients.values():
                client.sock.close()
            self._reserve.close()

    def _listen(self, addr: Addr) -> socket.socket:
        try:
            sock = tcp_socket(addr)
            sock.listen(1024)
        except OSError as exc:
            raise LabError(f"TURN server cannot listen on {addr[0]}:{addr[1]}: {exc.strerror}"
                           ) from None
        log.info("TURN server listening on %s:%d (TCP)", *addr)
        return sock

    def _listen_udp(self, addr: Addr) -> socket.socket:
        sock = socket.socket(family_of(addr[0]), socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(addr)
        except OSError as exc:
            sock.close()
            raise LabError(f"TURN server cannot listen on UDP {addr[0]}:{addr[1]}: "
                           f"{exc.strerror}") from None
        log.info("TURN server listening on %s:%d (UDP)", *addr)
        return sock

    def _udp_readable(self, sock: socket.socket) -> None:
        """Datagrams on a UDP listener: each one is a whole STUN message or ChannelData
        (RFC 8656 §12.5: unpadded on UDP); the first from an address makes its 5-tuple."""
        with contextlib.suppress(BlockingIOError):
            for _ in range(UDP_BATCH):  # then the other callbacks' turn
                data, remote = sock.recvfrom(65536)
                addr = addr_of(remote)
                conn = self._udp_by_addr.get((sock.fileno(), addr))
                if conn is None:
                    conn = next(self._conn_ids)
                    self._udp[conn] = _UdpClient(conn, sock, addr)
                    self._udp_by_addr[(sock.fileno(), addr)] = conn
                    self.core.connection_made(conn, addr, addr_of(sock.getsockname()),
                                              self.clock())
                self.core.message_received(conn, data, self.clock())
        self._run()

    def _forget_udp(self, conn: int) -> None:
        client = self._udp.pop(conn, None)
        if client is None:
            return
        self._udp_by_addr.pop((client.sock.fileno(), client.addr), None)
        self.core.connection_lost(conn, self.clock())

    def wake_timers(self) -> None:
        """Run the core's timers now (after a test moved the injected clock)."""
        self._wake.set()

    def _spawn(self, coro: Coroutine[Any, Any, None], key: Addr | None = None
               ) -> None:
        if self._tg is None:
            coro.close()
            return
        task = self._tg.create_task(self._contained(coro, key))
        if key is not None:
            self._tasks[key] = task
            task.add_done_callback(lambda t: self._tasks.pop(key, None)
                                   if self._tasks.get(key) is t else None)

    async def _contained(self, coro: Coroutine[Any, Any, None], key: Addr | None) -> None:
        """Run one connection's (or one relay's) task: an exception ends that task only,
        logged with its traceback, never the server's TaskGroup."""
        try:
            await coro
        except Exception:
            log.exception("TURN: %s failed; only it ends", key[0] if key else "task")

    def _cancel(self, key: Addr) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    # --- client connections ---------------------------------------------------------------

    async def _accept(self, lsock: socket.socket, what: str) -> tuple[socket.socket, Addr]:
        """The next connection on ``lsock``; out of descriptors, the pending connection is
        shed and the loop goes on (logged at most once a second); other accept errors (a
        connection reset while queued) are skipped."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, remote = await loop.sock_accept(lsock)
                return sock, addr_of(remote)
            except OSError as exc:
                if exc.errno not in EXHAUSTED:
                    log.info("TURN: accept on %s failed: %s", what, exc)
                    continue
                shed = self._reserve is not None and self._reserve.shed(lsock)
                now = time.monotonic()
                if now - self._last_shed_log >= 1.0:
                    self._last_shed_log = now
                    log.warning("TURN: %s: %s; %s", what, exc.strerror or exc,
                                "refusing new connections" if shed else "waiting")
                if not shed:
                    await asyncio.sleep(0.05)

    async def _accept_loop(self, lsock: socket.socket) -> None:
        local = addr_of(lsock.getsockname())
        what = "{}:{}".format(*local)
        while True:
            sock, remote = await self._accept(lsock, what)
            if len(self._clients) >= self._max_clients:
                log.warning("TURN: refusing %s:%d: %d client connections already", *remote,
                            self._max_clients)
                sock.close()
                continue
            try:
                self._admit(sock, remote, local)
            except Exception:
                log.exception("TURN: connection from %s:%d failed at its start", *remote)
                sock.close()

    def _admit(self, sock: socket.socket, remote: Addr, local: Addr) -> None:
        sock.setblocking(False)
        conn = next(self._conn_ids)
        client = _Client(conn, sock, remote, Outbox(sock, self.config.send_queue))
        self.core.connection_made(conn, remote, local, self.clock())
        self._clients[conn] = client
        self._wake.set()  # the connection's idle deadline may be the earliest now
        self._spawn(client.outbox.pump(), ("send", conn))
        self._spawn(self._client_loop(client), ("client", conn))

    async def _client_loop(self, client: _Client) -> None:
        """Read, frame and hand each message to the core, yielding to the other connections
        after each one (a client streaming requests gets its share, not the whole server)."""
        loop = asyncio.get_running_loop()
        framer = StunStreamFramer(channel_data=lambda: self.core.channels_possible(client.conn))
        try:
            while data := await loop.sock_recv(client.sock, 65536):
                framer.feed(data)
                while (frame := framer.next_frame()) is not None:
                    self.core.message_received(client.conn, frame, self.clock())
                    start = self._run()
                    if start is not None:
                        await self._bridge(client, start.cid, framer.take_buffered())
                        return
                    await asyncio.sleep(0)
        except ParseError as exc:
            log.warning("TURN: garbage from %s:%d, closing: %s", *client.remote, exc)
        except OSError as exc:
            log.info("TURN: connection from %s:%d ended: %s", *client.remote, exc)
        finally:
            self._clients.pop(client.conn, None)
            self._cancel(("send", client.conn))
            if not client.bridging:
                client.sock.close()
            self.core.connection_lost(client.conn, self.clock())
            self._run()

    def _send(self, conn: int, data: bytes) -> None:
        """Queue ``data`` for a client; never waits. A client with ``send_queue`` bytes unread
        is dropped (its reads end, its loop cleans up)."""
        udp = self._udp.get(conn)
        if udp is not None:
            with contextlib.suppress(OSError):
                udp.sock.sendto(data, udp.addr)
            return
        client = self._clients.get(conn)
        if client is None or client.bridging:
            return
        if not client.outbox.put(data):
            log.warning("TURN %s:%d: %d bytes unread, dropping the connection", *client.remote,
                        client.outbox.size)
            with contextlib.suppress(OSError):
                client.sock.shutdown(socket.SHUT_RDWR)

    # --- actions --------------------------------------------------------------------------

    def _run(self) -> StartBridge | None:
        """Carry out the actions the core queued (:meth:`TurnServerCore.actions`) in order,
        without waiting on any peer, and those that follow from reporting results back; a
        StartBridge is returned to the caller, the client loop that owns that connection."""
        start: StartBridge | None = None
        queue = self.core.actions()
        while queue:
            action = queue.pop(0)
            if isinstance(action, SendToClient):
                self._send(action.conn, action.data)
            elif isinstance(action, OpenRelay):
                self.core.relay_result(action.alloc, self._open_relay(action), self.clock())
                queue += self.core.actions()
            elif isinstance(action, StartBridge):
                start = action
            else:
                self._act(action)
        self._wake.set()  # the core may have a new, earlier deadline (a peer's bind timer)
        return start

    def _act(self, action: Action) -> None:
        if isinstance(action, CloseConnection) and action.conn in self._udp:
            log.info("TURN: forgetting UDP client %s:%d (%s)", *self._udp[action.conn].addr,
                     action.reason)
            self._forget_udp(action.conn)
            self._run()
        elif isinstance(action, CloseConnection):
            client = self._clients.get(action.conn)
            if client is not None:
                log.info("TURN: closing connection %d (%s)", action.conn, action.reason)
                with contextlib.suppress(OSError):
                    client.sock.shutdown(socket.SHUT_RDWR)
        elif isinstance(action, CloseRelay):
            self._cancel(("relay", action.alloc))
            relay = self._relays.pop(action.alloc, None)
            if relay is not None:
                with contextlib.suppress(ValueError, OSError):
                    asyncio.get_running_loop().remove_reader(relay.fileno())
                relay.close()
        elif isinstance(action, ConnectPeer):
            self._spawn(self._connect_peer(action), ("connect", action.cid))
        elif isinstance(action, ClosePeer):
            self._cancel(("connect", action.cid))
            peer = self._peers.pop(action.cid, None)
            if peer is not None:
                peer.close()
        elif isinstance(action, SendToPeer):
            relay = self._relays.get(action.alloc)
            if relay is not None:
                with contextlib.suppress(OSError):
                    relay.sendto(action.data, action.peer)

    def _open_relay(self, action: OpenRelay) -> bool:
        """Bind the relayed address; False if the OS refuses (the core tries the next)."""
        try:
            if action.transport == PROTO_TCP:
                sock = tcp_socket(action.addr, reuse_port=True)
                sock.listen(128)
            else:
                sock = socket.socket(family_of(action.addr[0]), socket.SOCK_DGRAM)
                sock.setblocking(False)
                sock.bind(action.addr)
        except OSError as exc:
            log.warning("TURN: cannot bind relay %s:%d: %s", *action.addr, exc.strerror)
            return False
        self._relays[action.alloc] = sock
        if action.transport == PROTO_TCP:
            self._spawn(self._relay_accept(action.alloc, sock), ("relay", action.alloc))
        else:
            asyncio.get_running_loop().add_reader(
                sock.fileno(), self._datagrams, action.alloc, sock)
        return True

    def _datagrams(self, alloc: int, sock: socket.socket) -> None:
        with contextlib.suppress(BlockingIOError):
            for _ in range(UDP_BATCH):
                data, peer = sock.recvfrom(65536)
                self.core.datagram_received(alloc, addr_of(peer), data, self.clock())
        self._run()

    # --- peers ----------------------------------------------------------------------------

    def _watch(self, cid: int, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()

        def eof() -> None:
            if cid in self._peers:
                self.core.peer_closed(cid, self.clock())
                self._run()

        self._peers[cid] = _Peer(loop, sock, self.config.peer_buffer, eof)

    async def _relay_accept(self, alloc: int, lsock: socket.socket) -> None:
        """Peers connecting to a relayed address (RFC 6062 §5.3)."""
        relayed = addr_of(lsock.getsockname())
        what = "relay {}:{}".format(*relayed)
        while True:
            sock, remote = await self._accept(lsock, what)
            try:
                cid = self.core.peer_accepted(relayed, remote, self.clock())
                if cid is None:
                    sock.close()
                    continue
                self._watch(cid, sock)
            except Exception:
                log.exception("TURN: peer %s:%d on %s failed at its start", *remote, what)
                sock.close()
                self.core.actions()  # its ConnectionAttempt is not sent: the peer is gone
                continue
            self._run()

    async def _connect_peer(self, action: ConnectPeer) -> None:
        """Connect from the relayed address to the peer (RFC 6062 §5.2)."""
        loop = asyncio.get_running_loop()
        sock: socket.socket | None = None
        try:
            sock = tcp_socket(action.relayed, reuse_port=True)
            async with asyncio.timeout(self.config.connect_timeout):
                await loop.sock_connect(sock, action.peer)
        except (OSError, TimeoutError) as exc:
            if sock is not None:
                sock.close()
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else repr(exc)
            self.core.peer_connect_result(action.cid, False, self.clock(), why)
            self._run()
            return
        self._watch(action.cid, sock)
        self.core.peer_connect_result(action.cid, True, self.clock())
        self._run()

    async def _bridge(self, client: _Client, cid: int, pipelined: bytes) -> None:
        """After ConnectionBind: early peer bytes to the client, then the raw bridge."""
        loop = asyncio.get_running_loop()
        peer = self._peers.pop(cid, None)
        if peer is None:
            return
        peer.stop()
        await client.outbox.drained()  # the ConnectionBind success goes first
        self._cancel(("send", client.conn))
        client.bridging = True
        try:
            if peer.buffer:
                await loop.sock_sendall(client.sock, bytes(peer.buffer))
            if pipelined:
                await loop.sock_sendall(peer.sock, pipelined)
        except OSError as exc:
            log.info("TURN: CONNECTION-ID %d ended while flushing: %s", cid, exc)
        up, down = await bridge(client.sock, peer.sock)
        up, down = up + len(pipelined), down + len(peer.buffer)
        self.relayed_bytes += up + down
        log.info("TURN: CONNECTION-ID %d closed after %d bytes up, %d down", cid, up, down)
        self.core.peer_closed(cid, self.clock())
        self._run()

    # --- timers ---------------------------------------------------------------------------

    async def _timer_loop(self) -> None:
        """The core's timers; they wait on nobody (:meth:`_run` never blocks), and a failure
        in one round is logged and the next round comes."""
        while True:
            await sleep_until(self.core.next_deadline(), self.clock, self._wake)
            try:
                self.core.handle_timer(self.clock())
                self._run()
            except Exception:
                log.exception("TURN: timer round failed")
