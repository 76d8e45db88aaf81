"""The node daemons' control protocol: JSON over the Unix socket ``<run>/control/<node>.sock``.

A Unix socket is a file, not a network endpoint: the CLI in the root namespace drives daemons
that live in lab namespaces without one packet leaving the root namespace
(docs/architecture.md). One request per connection, one line each way:

    -> {"cmd": "wait", "events": ["media-received", "failed"], "within": 10}
    <- {"ok": true, "event": {"seq": 7, "name": "media-received", "at": 1700000000.1, ...}}
    <- {"ok": true, "event": null}                       (none of them within 10 s)
    <- {"ok": false, "error": "unknown command 'shrae'; known: ..."}

Every daemon answers ``status`` (node, role, pid, its events) and ``wait`` (the first of the
named events after sequence number ``after``); the roles add their own commands (the Skype
client ``share``, both user agents ``hangup`` and ``stats``). The socket exists only while the
daemon is ready: its presence is the readiness signal ``uclab up`` waits for.

The server side is asyncio (:class:`ControlServer`, in the daemons); the client side is
blocking (:func:`request`, in the CLI and the run engine).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from lab.base.errors import LabError

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20
Reply = dict[str, Any]
Handler = Callable[[dict[str, Any]], Awaitable[Reply]]


class ControlError(LabError):
    """A control request failed: the daemon said so (``refused``) or could not be reached."""

    def __init__(self, path: Path | str, message: str, *, unreachable: bool = False) -> None:
        super().__init__(f"{Path(path).stem}: {message}")
        self.path, self.message, self.unreachable = Path(path), message, unreachable


class ControlServer:
    """Serves ``handlers`` (command name -> async function of the request) on ``path``."""

    def __init__(self, path: Path | str, handlers: Mapping[str, Handler]) -> None:
        self.path = Path(path)
        self.handlers = dict(handlers)
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen on the socket (made under a temporary name, then renamed into place, so a
        client never finds a socket that does not accept yet)."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        self._server = await asyncio.start_unix_server(self._serve, path=str(tmp),
                                                       limit=MAX_LINE)
        tmp.chmod(0o600)
        tmp.replace(self.path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if not line.strip():  # a readiness probe: connected, said nothing
                return
            reply = await self.dispatch(line)
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, ValueError) as exc:  # ValueError: line over the limit
            log.info("control connection ended: %s", exc)
        finally:
            writer.close()

    async def dispatch(self, line: bytes) -> Reply:
        """The reply to one request line (never raises)."""
        try:
            req = json.loads(line)
        except ValueError as exc:
            return {"ok": False, "error": f"not JSON: {exc}"}
        if not isinstance(req, dict) or not isinstance(req.get("cmd"), str):
            return {"ok": False, "error": 'a request is a JSON object with "cmd"'}
        handler = self.handlers.get(req["cmd"])
        if handler is None:
            return {"ok": False, "error": f"unknown command {req['cmd']!r}; known: "
                    + ", ".join(sorted(self.handlers))}
        try:
            reply = await handler(req)
        except Exception as exc:  # the daemon goes on; the caller learns why
            log.exception("control command %s failed", req["cmd"])
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return {"ok": True, **reply} if "ok" not in reply else reply


def request(path: Path | str, cmd: str, *, timeout: float = 5.0, **args: Any) -> Reply:
    """Send ``{"cmd": cmd, **args}`` to the daemon at ``path`` and return its reply.

    Raises :class:`ControlError` when the socket is absent or refuses (``unreachable``), when no
    reply comes within ``timeout`` seconds, or when the daemon answers ``ok: false``.
    """
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise ControlError(path, f"daemon not reachable ({exc.strerror})",
                               unreachable=True) from None
        except OSError as exc:
            raise ControlError(path, f"cannot connect: {exc}", unreachable=True) from None
        try:
            sock.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
            data = _read_line(sock, deadline)
        except TimeoutError:
            raise ControlError(path, f"no answer to {cmd!r} within {timeout:g} s") from None
        except OSError as exc:
            raise ControlError(path, f"{cmd!r}: connection failed: {exc}") from None
    if not data:
        raise ControlError(path, f"the daemon closed the connection without answering {cmd!r}")
    try:
        reply = json.loads(data)
    except ValueError:
        raise ControlError(path, f"unreadable answer to {cmd!r}: {data[:80]!r}") from None
    if not isinstance(reply, dict) or not reply.get("ok"):
        error = reply.get("error") if isinstance(reply, dict) else reply
        raise ControlError(path, f"{cmd}: {error}")
    return reply


def _read_line(sock: socket.socket, deadline: float) -> bytes:
    buf = bytearray()
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        if len(buf) > MAX_LINE:
            raise OSError("answer too long")
    return bytes(buf)


def reachable(path: Path | str) -> bool:
    """Does a daemon accept connections on ``path`` (is it ready)?"""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True
