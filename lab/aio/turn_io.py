"""Socket plumbing shared by the TURN adapters: pinned local ports, relay sockets bound with
address reuse, and the raw bridge that carries an RFC 6062 data connection.

The bridge is the hot path (RFC 6062 §5.5: after ConnectionBind the server relays bytes
untouched). It never goes through the STUN machinery nor through asyncio streams: each direction
moves data kernel-to-kernel with ``splice(2)`` through a pipe, driven by the event loop's
readiness callbacks, and falls back to ``recv_into``/``send`` with a large buffer where
splice is not available.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import fcntl
import ipaddress
import logging
import os
import resource
import socket
from collections.abc import Callable

from lab.proto.addr import Addr

log = logging.getLogger(__name__)

CHUNK = 1 << 20
SOCKET_BUFFER = 4 << 20
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_AGAIN = (errno.EAGAIN, errno.EWOULDBLOCK)


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET


def tcp_socket(local: Addr | None, *, family: socket.AddressFamily = socket.AF_INET,
               reuse_port: bool = False, buffers: int | None = None) -> socket.socket:
    """A non-blocking TCP socket, bound to ``local`` with SO_REUSEADDR (and SO_REUSEPORT).

    SO_REUSEADDR lets two connections leave from the same local port towards different
    destinations (the Skype client's 17676, flow.md §1) and lets a relay connect *from* the
    relayed address while it also listens there (RFC 6062 §5.2).
    """
    if local is not None:
        family = family_of(local[0])
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if buffers:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffers)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffers)
        if local is not None:
            sock.bind(local)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def connect_tcp(remote: Addr, local: Addr | None = None, *, reuse_port: bool = False
                      ) -> socket.socket:
    """A connected non-blocking TCP socket from ``local`` (None: any) to ``remote``.

    Callers bound the time with ``asyncio.timeout``.
    """
    sock = tcp_socket(local, family=family_of(remote[0]), reuse_port=reuse_port)
    try:
        await asyncio.get_running_loop().sock_connect(sock, remote)
    except BaseException:
        sock.close()
        raise
    return sock


async def open_stream(remote: Addr, local: Addr | None = None
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """``asyncio.open_connection`` from a pinned local address."""
    sock = await connect_tcp(remote, local)
    return await asyncio.open_connection(sock=sock, limit=CHUNK)


def addr_of(value: object) -> Addr:
    """``(host, port)`` of a sockname/peername tuple (IPv6 tuples have four fields)."""
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return ("?", 0)


class _Direction:
    """One direction of a bridge: readable ``src`` -> writable ``dst``, no user-space copy."""

    def __init__(self, loop: asyncio.AbstractEventLoop, src: socket.socket, dst: socket.socket,
                 done: Callable[[], None]) -> None:
        self.loop, self.src, self.dst, self.done = loop, src, dst, done
        self.pipe: tuple[int, int] | None = None
        self.buf = bytearray()
        self.pending = 0  # bytes read (into the pipe or the buffer) not yet written
        self.offset = 0
        self.finished = False
        self.bytes = 0
        if hasattr(os, "splice"):
            r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            with contextlib.suppress(OSError):
                fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, CHUNK)
            self.pipe = (r, w)
        else:
            self.buf = bytearray(CHUNK)

    def start(self) -> None:
        self.loop.add_reader(self.src.fileno(), self._readable)

    def _read(self) -> int:
        if self.pipe is not None:
            return os.splice(self.src.fileno(), self.pipe[1], CHUNK, flags=_SPLICE_FLAGS)
        n = self.src.recv_into(self.buf)
        self.offset = 0
        return n

    def _write(self) -> int:
        if self.pipe is not None:
            return os.splice(self.pipe[0], self.dst.fileno(), self.pending, flags=_SPLICE_FLAGS)
        return self.dst.send(memoryview(self.buf)[self.offset:self.offset + self.pending])

    def _readable(self) -> None:
        try:
            n = self._read()
        except OSError as exc:
            if exc.errno in _AGAIN:
                return
            self._finish(f"read error: {exc}")
            return
        if n == 0:
            self._finish("")
            return
        self.pending, self.bytes = n, self.bytes + n
        self._flush()

    def _flush(self) -> None:
        while self.pending:
            try:
                n = self._write()
            except OSError as exc:
                if exc.errno in _AGAIN:
                    self.loop.remove_reader(self.src.fileno())
                    self.loop.add_writer(self.dst.fileno(), self._writable)
                    return
                self._finish(f"write error: {exc}")
                return
            self.pending -= n
            self.offset += n

    def _writable(self) -> None:
        self._flush()
        if not self.pending and not self.finished:
            self.loop.remove_writer(self.dst.fileno())
            self.loop.add_reader(self.src.fileno(), self._readable)

    def _finish(self, why: str) -> None:
        if why:
            log.info("bridge: %s", why)
        self.stop()
        self.done()

    def stop(self) -> None:
        if self.finished:
            return
        self.finished = True
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_reader(self.src.fileno())
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_writer(self.dst.fileno())
        if self.pipe is not None:
            for fd in self.pipe:
                os.close(fd)
            self.pipe = None


async def bridge(a: socket.socket, b: socket.socket) -> tuple[int, int]:
    """Relay bytes both ways between two connected sockets until either side ends; then close
    both (RFC 6062 §5.5: closing one side closes the other). Returns bytes a->b, b->a."""
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()
    for s in (a, b):
        s.setblocking(False)
        with contextlib.suppress(OSError):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            # a relay forwards real-time media and ICE checks: a small segment must not wait
            # for the receiver's delayed ACK (Nagle), which costs up to 40 ms per hop
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ab = _Direction(loop, a, b, ended.set)
    ba = _Direction(loop, b, a, ended.set)
    try:
        ab.start()
        ba.start()
        await ended.wait()
    finally:
        ab.stop()
        ba.stop()
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
    return ab.bytes, ba.bytes


class Outbox:
    """What a server has to write to one client connection, written by one task (:meth:`pump`)
    so that no sender ever waits on that client: the core's timers and every other connection
    go on while a client does not read. :meth:`put` refuses (False) past ``limit`` queued
    bytes; the caller then drops the connection."""

    def __init__(self, sock: socket.socket, limit: int) -> None:
        self.sock, self.limit = sock, limit
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.failed = False
        self._more = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()

    def put(self, data: bytes) -> bool:
        if self.failed:
            return True  # the connection is ending anyway
        if self.size + len(data) > self.limit:
            return False
        self.chunks.append(data)
        self.size += len(data)
        self._empty.clear()
        self._more.set()
        return True

    async def pump(self) -> None:
        """Write queued bytes in order until cancelled or the connection fails."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._more.wait()
                self._more.clear()
                while self.chunks:
                    await loop.sock_sendall(self.sock, self.chunks[0])
                    self.size -= len(self.chunks.popleft())
                self._empty.set()
        except OSError as exc:
            log.info("send failed, dropping %d queued bytes: %s", self.size, exc)
            self.failed = True
            self.chunks.clear()
            self._empty.set()
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    async def drained(self) -> None:
        """Until every queued byte is written (or the connection failed)."""
        await self._empty.wait()


#: accept() errors that mean "out of descriptors or memory": the server sheds that connection
#: and goes on, never ends (coturn does the same)
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class FdReserve:
    """One descriptor kept open so that, when accept() fails with EMFILE, the pending
    connection can still be accepted and closed (the client sees a close at once instead of a
    hung connect, and the listening socket stops being readable)."""

    def __init__(self) -> None:
        self.fd: int | None = None
        self._open()

    def _open(self) -> None:
        with contextlib.suppress(OSError):
            self.fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    def shed(self, lsock: socket.socket) -> bool:
        """Accept and close one pending connection of ``lsock`` with the reserved descriptor;
        False if nothing could be shed (no reserve, nothing pending)."""
        if self.fd is None:
            self._open()
            return False
        os.close(self.fd)
        self.fd = None
        try:
            sock, _ = lsock.accept()
            sock.close()
            return True
        except OSError:
            return False
        finally:
            self._open()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def connection_budget() -> int:
    """How many client connections fit in this process's descriptor limit: each may bring a
    relay socket or a peer connection with it, and some are kept for the rest."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 100_000
    return max(8, (soft - 64) // 2)
