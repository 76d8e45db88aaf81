"""asyncio SIP user agent: a :class:`UserAgentCore` on a :class:`SipTransport`.

The answering side gives an async callback ``on_invite(call, offer) -> Answer | Reject`` that
may take its time (CMS allocates TURN first); it also answers re-INVITEs; if the caller
cancels meanwhile, its answer is dropped. The calling side awaits :meth:`SipUserAgent.invite`,
:meth:`reinvite` and :meth:`bye`, and may :meth:`cancel` a pending INVITE (the awaiting
``invite`` then raises :class:`CallFailed` 487).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lab.aio.sip_transport import SipTransport, TransportConfig
from lab.proto.sip.message import Header
from lab.proto.sip.ua import (
    Acked,
    Answered,
    Call,
    Ended,
    IncomingCall,
    ReInvited,
    Rejected,
    UaConfig,
    UserAgentCore,
)
from lab.proto.sip.uri import Uri

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    sdp: bytes


@dataclass(frozen=True)
class Reject:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


OnInvite = Callable[[Call, bytes], Awaitable[Answer | Reject]]


class CallFailed(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class SipUserAgent:
    def __init__(self, config: UaConfig, transport: TransportConfig,
                 on_invite: OnInvite | None = None) -> None:
        self.core = UserAgentCore(config)
        self.transport = SipTransport(self.core, transport)
        self.on_invite = on_invite
        self.waiting: dict[str, asyncio.Future[Answered | Rejected]] = {}
        self.ended: dict[str, asyncio.Future[Ended]] = {}
        self.acked: dict[str, asyncio.Event] = {}
        self.incoming: asyncio.Queue[Call] = asyncio.Queue()
        self.tg: asyncio.TaskGroup | None = None
        self._events = asyncio.Event()

    async def serve(self) -> None:
        """Run the transport and dispatch the core's events, until cancelled."""
        real_pump = self.transport.pump

        def pump() -> None:
            real_pump()
            self._dispatch()
            real_pump()

        self.transport.pump = pump  # type: ignore[method-assign]
        async with asyncio.TaskGroup() as tg:
            self.tg = tg
            tg.create_task(self.transport.serve())

    async def invite(self, target: Uri, sdp: bytes, within: float = 40.0) -> tuple[Call, bytes]:
        """Place a call; return it with the answer SDP once the 200 OK came (ACK is sent)."""
        call = self.core.invite(target, sdp, self.transport.now())
        return call, await self._await_answer(call, within)

    async def reinvite(self, call: Call, sdp: bytes, within: float = 40.0) -> bytes:
        self.core.reinvite(call, sdp, self.transport.now())
        return await self._await_answer(call, within)

    async def bye(self, call: Call, within: float = 40.0) -> None:
        fut = self.ended.setdefault(call.call_id, asyncio.get_running_loop().create_future())
        self.core.bye(call, self.transport.now())
        self.transport.pump()
        await asyncio.wait_for(fut, within)

    def cancel(self, call: Call) -> None:
        """CANCEL the pending INVITE of ``call`` (RFC 3261 §9.1)."""
        self.core.cancel(call, self.transport.now())
        self.transport.pump()

    async def wait_ended(self, call: Call, within: float = 40.0) -> Ended:
        fut = self.ended.setdefault(call.call_id, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(fut, within)

    async def wait_acked(self, call: Call, within: float = 10.0) -> None:
        """Until the ACK of the latest INVITE or re-INVITE we answered has come."""
        await asyncio.wait_for(self.acked.setdefault(call.call_id, asyncio.Event()).wait(),
                               within)

    async def _await_answer(self, call: Call, within: float) -> bytes:
        fut: asyncio.Future[Answered | Rejected] = asyncio.get_running_loop().create_future()
        self.waiting[call.call_id] = fut
        self.transport.pump()
        result = await asyncio.wait_for(fut, within)
        if isinstance(result, Rejected):
            raise CallFailed(result.status, result.reason)
        return result.answer

    def _dispatch(self) -> None:
        for event in self.core.events():
            cid = event.call.call_id
            if isinstance(event, Answered | Rejected):
                fut = self.waiting.pop(cid, None)
                if fut is not None and not fut.done():
                    fut.set_result(event)
            elif isinstance(event, IncomingCall | ReInvited):
                if isinstance(event, IncomingCall):
                    self.incoming.put_nowait(event.call)
                self.acked.setdefault(cid, asyncio.Event()).clear()  # wait_acked: this one's
                if self.tg is not None:
                    self.tg.create_task(self._answer(event.call, event.offer))
            elif isinstance(event, Acked):
                self.acked.setdefault(cid, asyncio.Event()).set()
            elif isinstance(event, Ended):
                fut2 = self.ended.setdefault(cid, asyncio.get_running_loop().create_future())
                if not fut2.done():
                    fut2.set_result(event)

    async def _answer(self, call: Call, offer: bytes) -> None:
        now = self.transport.now
        if self.on_invite is None:
            self.core.reject(call, 488, "Not Acceptable Here", now())
        else:
            try:
                result = await self.on_invite(call, offer)
            except Exception:
                log.exception("on_invite callback failed for %s", call.call_id)
                result = Reject(500, "Server Internal Error")
            if call.pending is None:
                log.info("%s was cancelled; the application's answer is dropped", call.call_id)
            elif isinstance(result, Answer):
                self.core.answer(call, result.sdp, now())
            else:
                extra = tuple(Header(n, v) for n, v in result.headers)
                self.core.reject(call, result.status, result.reason, now(), extra)
        self.transport.pump()
