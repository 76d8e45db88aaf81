"""SIP connections disable Nagle (TCP_NODELAY) on both ends: otherwise a proxy's 200 OK written
right after its 100 Trying waits for the peer's delayed ACK, about 40 ms per hop, which the
run's call set-up time showed (docs/walkthrough.md)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from lab.aio.sip_transport import Listener, SipTransport, TransportConfig
from lab.kernel.setns import run_in_netns
from lab.proto.sip.ua import UserAgentCore
from tests import sipseed as seed
from tests.nethelp import NetBench


def test_sip_connections_have_nodelay_on_both_ends(netbench: Callable[[], NetBench]) -> None:
    node = netbench().node("sip")

    async def main() -> list[int]:
        server = SipTransport(UserAgentCore(seed.cms("tcp")),
                              TransportConfig("tcp", (Listener("127.0.0.1", 5060),)))
        client = SipTransport(UserAgentCore(seed.sfb_client("tcp")), TransportConfig("tcp"))
        async with asyncio.TaskGroup() as tg:
            serving = tg.create_task(server.serve())
            await server.ready.wait()
            conn = await client.connect("127.0.0.1", 5060)
            for _ in range(200):
                if server.conns:
                    break
                await asyncio.sleep(0.005)
            socks = [conn.writer.get_extra_info("socket"),
                     next(iter(server.conns.values())).writer.get_extra_info("socket")]
            flags = [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in socks]
            await client.close()
            await server.close()
            serving.cancel()
        return flags

    flags = run_in_netns(node.ns, lambda: asyncio.run(main()), timeout=20)
    assert all(flags) and len(flags) == 2
