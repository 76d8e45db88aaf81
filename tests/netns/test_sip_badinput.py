"""Bad input against a running proxy (asyncio, real TCP sockets in namespaces): each message
gets its answer (400, 413, 482, 483) or a closed connection, each is logged, and the proxy keeps
serving: a connection opened before the garbage still gets answers and a call completes on it
right after. Also CANCEL over real sockets: the caller gives up, the callee's late answer is
dropped."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from lab.aio.sip_proxy import SipProxy
from lab.aio.sip_transport import Listener, TransportConfig
from lab.aio.sip_ua import Answer, CallFailed, Reject, SipUserAgent
from lab.kernel.setns import run_in_netns
from lab.proto.sip.core import Target
from lab.proto.sip.proxy import ProxyConfig, Side, StaticRoute
from lab.proto.sip.ua import Call, UaConfig
from lab.proto.sip.uri import Uri
from tests.nethelp import NetBench, Node, wait_listening, wait_until
from tests.netns.siplab import NodeThread

PROXY = ("10.0.0.2", 5060)
CALLEE = Uri("sip", "10.0.0.3", "meeting", port=5060, params=(("transport", "tcp"),))
FINAL = re.compile(rb"SIP/2\.0 ([2-6]\d\d) [^\r]*\r\n.*?\r\n\r\n", re.S)


@dataclass
class Stacks:
    cli: Node
    uac: SipUserAgent
    uas: SipUserAgent
    uac_thread: NodeThread
    uas_thread: NodeThread


@pytest.fixture
def stacks(netbench: Callable[[], NetBench]) -> Iterator[Stacks]:
    """caller 10.0.0.1 -> our proxy 10.0.0.2:5060 -> callee 10.0.0.3:5060, over TCP."""
    bench = netbench()
    cli, prx, uas_ns = bench.node("cli"), bench.node("prx"), bench.node("uas")
    bench.segment("lan", [(cli, "eth0", "10.0.0.1/24"), (prx, "eth0", "10.0.0.2/24"),
                          (uas_ns, "eth0", "10.0.0.3/24")])
    proxy = SipProxy(ProxyConfig("prx", sides=(Side("lan", *PROXY, "tcp"),), routes=(
        StaticRoute(("10.0.0.3",), "lan", Target("tcp", "10.0.0.3", 5060)),)),
        TransportConfig("tcp", (Listener(*PROXY, "lan"),)))

    async def answer(call: Call, offer: bytes) -> Answer | Reject:
        await asyncio.sleep(1.0 if offer == b"slow" else 0.0)
        return Answer(b"answer to " + offer)

    uas = SipUserAgent(UaConfig(CALLEE, CALLEE, "10.0.0.3", 5060, "tcp"),
                       TransportConfig("tcp", (Listener("10.0.0.3", 5060),)), answer)
    contact = Uri("sip", "10.0.0.1", "alice", port=5070, params=(("transport", "tcp"),))
    first_hop = Uri("sip", PROXY[0], port=PROXY[1], params=(("transport", "tcp"), ("lr", None)))
    uac = SipUserAgent(UaConfig(Uri("sip", "sfb.lab", "alice"), contact, "10.0.0.1", 5070, "tcp",
                                outbound_proxy=first_hop),
                       TransportConfig("tcp", (Listener("10.0.0.1", 5070),)))
    threads = [NodeThread(prx.ns, proxy.serve), NodeThread(uas_ns.ns, uas.serve),
               NodeThread(cli.ns, uac.serve)]
    try:
        wait_listening(prx, 5060, "10.0.0.2")
        wait_listening(uas_ns, 5060, "10.0.0.3")
        yield Stacks(cli, uac, uas, threads[2], threads[1])
    finally:
        for t in threads:
            t.stop()
    assert [t.error for t in threads] == [None, None, None]


def _call(s: Stacks, offer: bytes) -> None:
    call, answer = s.uac_thread.call(s.uac.invite(CALLEE, offer))
    assert answer == b"answer to " + offer
    s.uac_thread.call(s.uac.bye(call))


def _request(branch: str, *, start: str = f"INVITE {CALLEE} SIP/2.0", mf: str = "70",
             vias: tuple[str, ...] = (), length: str | None = "0", extra: str = "") -> bytes:
    lines = [start, f"Via: SIP/2.0/TCP 10.0.0.1:5099;branch=z9hG4bK{branch}", *vias,
             f"Max-Forwards: {mf}", "From: <sip:bad@sfb.lab>;tag=b1", f"To: <{CALLEE}>",
             f"Call-ID: {branch}@10.0.0.1", f"CSeq: 1 {start.split(' ', 1)[0]}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def _exchange(sock: socket.socket, data: bytes, within: float = 3.0) -> tuple[bytes, bool]:
    """Send ``data``; read until the proxy closes, or until a final response came and nothing
    more for 0.2 s: (bytes, closed)."""
    sock.sendall(data)
    got, end = b"", time.monotonic() + within
    while time.monotonic() < end:
        left = end - time.monotonic()
        sock.settimeout(min(left, 0.2) if FINAL.search(got) else max(0.01, left))
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return got, True
        except TimeoutError:
            break
        if not chunk:
            return got, True
        got += chunk
    return got, False


def _status(got: bytes) -> int | None:
    m = FINAL.search(got)
    return int(m.group(1)) if m else None


CASES: list[tuple[str, bytes, int | None, bool, str]] = [
    # name, bytes, final status expected, connection closed, what the log says
    ("no Content-Length", _request("nocl", length=None), 400, True,
     "no Content-Length on a stream transport"),
    ("header block over 16 KiB", _request("big", extra="X-Big: " + "a" * 20000 + "\r\n"), None,
     True, "header block over 16384 octets"),
    ("body over 64 KiB", _request("body", length="100000"), 413, True,
     "body of 100000 octets over 65536"),
    ("Via loop", _request("loop", vias=("Via: SIP/2.0/TCP 10.0.0.2:5060;branch=z9hG4bKus",)), 482,
     False, "refused: 482"),
    ("Max-Forwards 0", _request("mf0", mf="0"), 483, False, "refused: 483"),
    ("garbled start line", _request("garbled", start=f"INVITE {CALLEE} SIP/2.0 extra"), 400,
     False, "unparsable message: bad request line"),
    ("garbage octets", bytes(range(0x16, 0x06, -1)) * 8, None, True, "not a SIP start line"),
]


def test_bad_input_is_answered_or_closed_logged_and_the_proxy_serves_on(
        stacks: Stacks, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    _call(stacks, b"first")  # the caller's connection to the proxy is now open

    def attack() -> list[tuple[str, int | None, bool]]:
        keep = socket.create_connection(PROXY, timeout=3)  # opened before the garbage
        results = []
        for name, data, *_ in CASES:
            with socket.create_connection(PROXY, timeout=3) as sock:
                got, closed = _exchange(sock, data)
                results.append((name, _status(got), closed))
        options = _request("after", start=f"OPTIONS {CALLEE} SIP/2.0")
        got, closed = _exchange(keep, options)
        keep.close()
        results.append(("OPTIONS on the older connection", _status(got), closed))
        return results

    results = run_in_netns(stacks.cli.ns, attack, timeout=40)
    assert results == [(name, status, closed) for name, _, status, closed, _ in CASES] + [
        ("OPTIONS on the older connection", 200, False)]
    _call(stacks, b"second")  # and a call completes on the caller's connection right after
    proxy_logs = [r.getMessage() for r in caplog.records if r.name.startswith("lab.")
                  and r.levelno >= logging.WARNING]
    for name, *_, logged in CASES:
        assert any(logged in m for m in proxy_logs), (name, proxy_logs)
    framing = [m for m in proxy_logs if "closing" in m]
    assert all("from 10.0.0.1:" in m for m in framing)  # the peer is named in the log


def test_the_caller_cancels_and_the_late_answer_is_dropped(
        stacks: Stacks, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    uac = stacks.uac

    async def give_up() -> tuple[object, object]:
        async def cancel_soon() -> None:
            await asyncio.sleep(0.3)  # the callee got the INVITE and is still "allocating"
            (call,) = [c for c in uac.core.calls.values() if c.local_sdp == b"slow"]
            uac.cancel(call)

        return await asyncio.gather(uac.invite(CALLEE, b"slow"), cancel_soon(),
                                    return_exceptions=True)

    failed, _ = stacks.uac_thread.call(give_up())
    assert isinstance(failed, CallFailed) and failed.status == 487
    callee_call = stacks.uas_thread.call(stacks.uas.incoming.get())
    ended = stacks.uas_thread.call(stacks.uas.wait_ended(callee_call, 5))
    assert ended.by_remote and callee_call.state == "ended"
    _call(stacks, b"after the cancel")
    # the callee's answer comes 1 s after the INVITE, and is dropped
    wait_until(lambda: any("was cancelled" in r.getMessage() for r in caplog.records),
               "the late answer is dropped", within=5.0, step=0.05)
