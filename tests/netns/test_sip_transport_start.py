"""A request handed to a SIP transport before its serve() has started (an application that
calls before the stack is up) is sent once serve() runs, not left queued forever."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from lab.aio.sip_transport import Listener, TransportConfig
from lab.aio.sip_ua import Answer, Reject, SipUserAgent
from lab.kernel.setns import run_in_netns
from lab.proto.sip.ua import Call, UaConfig
from lab.proto.sip.uri import Uri
from tests.nethelp import NetBench

CALLEE = Uri("sip", "127.0.0.1", "meeting", port=5060, params=(("transport", "tcp"),))
CALLER = Uri("sip", "127.0.0.1", "alice", port=5070, params=(("transport", "tcp"),))


def test_invite_before_serve_is_sent_when_serve_starts(netbench: Callable[[], NetBench]
                                                       ) -> None:
    node = netbench().node("sip")

    async def answer(call: Call, offer: bytes) -> Answer | Reject:
        return Answer(b"answer to " + offer)

    async def main() -> bytes:
        uas = SipUserAgent(UaConfig(CALLEE, CALLEE, "127.0.0.1", 5060, "tcp"),
                           TransportConfig("tcp", (Listener("127.0.0.1", 5060),)), answer)
        uac = SipUserAgent(UaConfig(Uri("sip", "sfb.lab", "alice"), CALLER, "127.0.0.1", 5070,
                                    "tcp"), TransportConfig("tcp", ()))
        async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
            serving = [tg.create_task(uas.serve())]
            await uas.transport.ready.wait()
            calling = tg.create_task(uac.invite(CALLEE, b"early"))  # runs before uac serves
            await asyncio.sleep(0)
            serving.append(tg.create_task(uac.serve()))
            _call, got = await calling
            for task in serving:
                task.cancel()
        return got

    assert run_in_netns(node.ns, lambda: asyncio.run(main()), timeout=20) == b"answer to early"
