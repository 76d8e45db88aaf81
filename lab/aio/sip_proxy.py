"""asyncio SIP proxy: a :class:`ProxyCore` on a :class:`SipTransport`, optionally the client
side of a traversal zone (it opens and keeps the connection to the server's zone port)."""

from __future__ import annotations

import asyncio
import logging

from lab.aio.sip_transport import SipTransport, TransportConfig
from lab.proto.addr import Addr
from lab.proto.sip.proxy import ProxyConfig, ProxyCore

log = logging.getLogger(__name__)


class SipProxy:
    """``await SipProxy(cfg, transport, traversal=("10.48.54.229", 7001)).serve()``."""

    def __init__(self, config: ProxyConfig, transport: TransportConfig,
                 traversal: Addr | None = None, traversal_side: str = "") -> None:
        self.core = ProxyCore(config)
        self.transport = SipTransport(self.core, transport)
        self.traversal = traversal
        self.traversal_side = traversal_side

    async def serve(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.transport.serve())
            if self.traversal is not None:
                await self.transport.ready.wait()
                tg.create_task(self.transport.keep_connected(*self.traversal,
                                                             side=self.traversal_side))
