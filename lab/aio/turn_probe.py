"""The RFC 6062 probe behind ``uclab turn-probe``: one TCP allocation against any TURN server,
then either Connect to a peer or wait for a peer to connect in, with every STUN message reported
as a ladder line and a verdict at the end.

Nothing here prints: lines go to the ``emit`` callback the CLI gives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lab.aio.turn_client import PeerStream, Trace, TurnClient, TurnError
from lab.proto.addr import Addr
from lab.proto.stun import (
    Attribute,
    ConnectionId,
    ErrorCode,
    Lifetime,
    Message,
    Nonce,
    Realm,
    RequestedTransport,
    Software,
    Username,
    XorMappedAddress,
    XorPeerAddress,
    XorRelayedAddress,
)

PROBE_BYTES = b"uclab turn-probe\n"


def describe_attribute(attr: Attribute) -> str:
    """A short ``NAME=value`` for a ladder line."""
    value: object = None
    if isinstance(attr, XorRelayedAddress | XorMappedAddress | XorPeerAddress):
        value = f"{attr.host}:{attr.port}"
    elif isinstance(attr, RequestedTransport):
        value = {6: "TCP", 17: "UDP"}.get(attr.protocol, attr.protocol)
    elif isinstance(attr, Lifetime | ConnectionId | Username | Realm):
        value = attr.value
    elif isinstance(attr, Nonce):
        value = attr.value[:12].decode("ascii", "replace") + "..."
    return attr.NAME if value is None else f"{attr.NAME}={value}"


def ladder_line(t: Trace, start: float) -> str:
    """``  0.012  10.48.54.230:33347 -> 10.48.54.229:3478  Allocate request  ...``."""
    local = f"{t.local[0]}:{t.local[1]}"
    remote = f"{t.remote[0]}:{t.remote[1]}"
    arrow = f"{local:>21} -> {remote:<21}" if t.direction == "send" else (
        f"{local:>21} <- {remote:<21}")
    attrs = "  ".join(
        describe_attribute(a) for a in t.message.attributes
        if not isinstance(a, ErrorCode | Software)
    )
    return f"{time.monotonic() - start:7.3f}  {arrow}  {t.message.describe()}  {attrs}".rstrip()


@dataclass
class ProbeResult:
    ok: bool
    verdict: str
    relayed: Addr | None = None
    received: bytes = b""
    messages: list[Message] = field(default_factory=list)


@dataclass
class ProbeOptions:
    server: Addr
    username: str
    password: str
    realm: str | None = None
    connect: Addr | None = None
    accept_from: str | None = None
    local_port: int = 0
    data_port: int = 0
    local_host: str | None = None
    wait: float = 60.0
    timeout: float = 10.0


async def run_probe(opts: ProbeOptions, emit: Callable[[str], None]) -> ProbeResult:
    """Allocate (TCP), then Connect or accept; ``emit`` receives every ladder line."""
    start = time.monotonic()
    result = ProbeResult(False, "")

    def trace(t: Trace) -> None:
        result.messages.append(t.message)
        emit(ladder_line(t, start))

    local = (opts.local_host or "0.0.0.0", opts.local_port) if (  # noqa: S104
        opts.local_port or opts.local_host) else None
    client = TurnClient(opts.server, opts.username, opts.password, realm=opts.realm,
                        local_addr=local, data_local_ports=[opts.data_port] if opts.data_port
                        else [], on_message=trace, timeout=opts.timeout)
    step = "connecting to the server"
    try:
        async with asyncio.timeout(opts.timeout):
            await client.open()
        step = "Allocate"
        alloc = await client.allocate()
        result.relayed = alloc.relayed
        relayed = f"relayed address {alloc.relayed[0]}:{alloc.relayed[1]}"
        if opts.connect is not None:
            emit(relayed)
            step = f"Connect to {opts.connect[0]}:{opts.connect[1]}"
            stream = await client.connect(opts.connect)
            result.received = await _exchange(stream, send_first=True, wait=opts.timeout)
        else:
            peer = opts.accept_from or ""
            step = f"CreatePermission for {peer}"
            await client.create_permission(peer)
            emit(relayed)
            emit(f"waiting up to {opts.wait:g} s for {peer} to connect to it")
            step = "waiting for the peer's connection"
            async with asyncio.timeout(opts.wait):
                attempt = await client.wait_attempt()
            step = "ConnectionBind"
            stream = await client.bind(attempt.connection_id, attempt.peer)
            result.received = await _exchange(stream, send_first=False, wait=opts.timeout)
        result.ok = True
        result.verdict = "TCP TURN (RFC 6062) works: " + (
            "Connect and ConnectionBind succeeded" if opts.connect else
            "ConnectionAttempt and ConnectionBind succeeded")
    except TurnError as exc:
        result.verdict = f"FAILED at {step}: {exc.code} {exc.reason}" if exc.code else (
            f"FAILED at {step}: {exc.reason}")
    except TimeoutError:
        result.verdict = f"FAILED at {step}: no answer within the time limit"
    except OSError as exc:
        result.verdict = f"FAILED at {step}: {exc.strerror or exc}"
    finally:
        await client.close()
    return result


async def _exchange(stream: PeerStream, *, send_first: bool, wait: float) -> bytes:
    """Send a probe line to the peer (Connect) or read what it sends first (accept)."""
    data = b""
    if send_first:
        stream.writer.write(PROBE_BYTES)
        await stream.writer.drain()
    try:
        async with asyncio.timeout(min(wait, 3.0)):
            data = await stream.reader.read(4096)
    except TimeoutError:
        pass
    await stream.close()
    return data
