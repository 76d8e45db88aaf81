"""``cms``: the Cisco Meeting Server call bridge, the viewer of the share (flow.md §3, §4.2).

On the share INVITE it allocates a TCP relay on Expressway-E's TURN server from its pinned
ports (control 33347, ConnectionBind 33348: steps 6-9), installs the permission for the offer's
active addresses (step 10), answers with its host and relayed candidates (step 11, the SDP
builders of flow.md §4.2), then runs ICE as the controlled agent and receives the media. If the
conference does not let attendees share it refuses with the tech note's ``ms-diagnostics-public:
21002``; if TURN fails it answers with its host candidate only, as CMS does.

Control commands (besides ``status`` and ``wait``): ``stats`` (media statistics, ICE pairs),
``hangup`` (CMS ends the call: its BYE makes Expressway-E open a new connection to the Edge,
ports.md F2).

    python -m nodes.cms --config <run>/config/cms.json --control <run>/control/cms.sock
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from dataclasses import dataclass, field
from typing import Any

from lab.aio.ice import IceFailed, IceGatherer, IceSession
from lab.aio.sip_ua import Answer, Reject, SipUserAgent
from lab.aio.turn_client import PeerStream, TurnClient, TurnError
from lab.proto.ice import IceConfig
from lab.proto.sdp import IceCredentials, Origin, ParseError, build_share_answer, rfc5245_candidates
from lab.proto.sip.ua import Call, UaConfig
from lab.proto.sip.uri import Uri
from lab.proto.turn.config import CLIENT_TIMEOUT
from lab.topology.events import CmsEvent, DaemonEvent
from lab.topology.roles import CmsSettings
from nodes.call import MediaRun, RemoteSdp, pair_text, user_agent
from nodes.common import Daemon, main

log = logging.getLogger("nodes.cms")

FOREVER = 24 * 3600.0
#: The tech note's refusal when the conference does not allow attendees to share.
NOT_ALLOWED = ("ms-diagnostics-public",
               '21002;reason="Attendees cannot share in this conference"')


@dataclass
class _CallState:
    call: Call
    answer: bytes = b""
    media: MediaRun | None = None
    report: list[str] = field(default_factory=list)
    pair: str = ""


class _WithheldBind(TurnClient):
    """CMS with ``turn.connection_bind: false`` (a fault): it takes each ConnectionAttempt and
    never answers it with a ConnectionBind, so Expressway-E closes the peer's connection after
    its bind timer (30 s, RFC 6062 §5.3)."""

    daemon: Daemon | None = None

    async def accept(self) -> PeerStream:
        while True:  # ends with TurnError when the control connection ends
            attempt = await self.wait_attempt()
            log.warning("ConnectionAttempt %d from %s:%d: ConnectionBind withheld (turn."
                        "connection_bind: false)", attempt.connection_id, *attempt.peer)
            if self.daemon is not None:
                peer = f"{attempt.peer[0]}:{attempt.peer[1]}"
                await self.daemon.events.reach(CmsEvent.BIND_WITHHELD, peer)


class Meeting:
    """The meeting ``settings.meeting_uri`` and the share calls into it."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.s = daemon.config.settings_as(CmsSettings)
        self.ip = str(self.s.sip_listen.host)
        kind = daemon.config.transport
        aor = Uri.parse(self.s.meeting_uri)
        contact = Uri("sip", self.ip, aor.user, port=self.s.sip_listen.port,
                      params=(("transport", kind),))
        config = UaConfig(aor=aor, contact=contact, host=self.ip, port=self.s.sip_listen.port,
                          transport=kind)
        self.ua: SipUserAgent = user_agent(daemon, config, self.s.sip_listen.pair,
                                           self.on_invite)
        self.calls: dict[str, _CallState] = {}
        daemon.command("hangup", self.hangup)
        daemon.command("stats", self.stats)

    async def on_invite(self, call: Call, offer: bytes) -> Answer | Reject:
        state = self.calls.get(call.call_id)
        if state is not None:  # a re-INVITE (the selected pair): same session, same answer
            await self.daemon.events.reach(CmsEvent.REINVITE)
            return Answer(state.answer)
        await self.daemon.events.reach(CmsEvent.INVITE, call.call_id)
        if not self.s.attendees_may_share:
            await self.daemon.events.reach(CmsEvent.REJECTED, "403 attendees cannot share")
            return Reject(403, "Forbidden", (NOT_ALLOWED,))
        try:
            remote = RemoteSdp.parse(offer)
        except ParseError as exc:
            await self.daemon.events.reach(CmsEvent.REJECTED, f"488 {exc}")
            return Reject(488, "Not Acceptable Here")
        state = self.calls[call.call_id] = _CallState(call)
        answered: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.daemon.spawn(f"call {call.call_id}", self._session(state, remote, answered))
        try:
            state.answer = await answered
        except Exception as exc:
            await self.daemon.events.reach(CmsEvent.REJECTED, f"500 {exc}")
            return Reject(500, "Server Internal Error")
        await self.daemon.events.reach(CmsEvent.ANSWERED)
        return Answer(state.answer)

    async def _gather(self) -> IceGatherer:
        g = IceGatherer()
        await g.host_passive(self.ip, self.s.host_port)
        t = self.s.turn
        kind = TurnClient if t.connection_bind else _WithheldBind
        client = kind(t.server.pair, t.username, t.password,
                      local_addr=(self.ip, t.control_port), data_local_ports=[t.data_port],
                      timeout=CLIENT_TIMEOUT * self.daemon.config.time_scale)
        if isinstance(client, _WithheldBind):
            client.daemon = self.daemon
        try:
            relay = await g.relay_passive(client)
            relayed = f"{relay.relayed[0]}:{relay.relayed[1]}"
            await self.daemon.events.reach(CmsEvent.ALLOCATED, relayed)
        except (TurnError, OSError) as exc:  # CMS falls back to its host candidate
            log.warning("no TURN relay from %s: %s", t.server, exc)
            await self.daemon.events.reach(CmsEvent.TURN_FAILED, str(exc))
        return g

    async def _session(self, state: _CallState, remote: RemoteSdp,
                       answered: asyncio.Future[bytes]) -> None:
        ice_cfg = self.s.ice
        try:
            g = await self._gather()
        except BaseException as exc:
            answered.set_exception(exc)
            raise
        cands = rfc5245_candidates(g.specs)
        async with IceSession(g, cands, controlling=False, ufrag=ice_cfg.ufrag,
                              pwd=ice_cfg.pwd,
                              config=IceConfig().scaled(self.daemon.config.time_scale)) as ice:
            try:
                await ice.set_remote(remote.ufrag, remote.pwd, remote.candidates)  # permissions
                sdp = build_share_answer(g.specs, ice=IceCredentials(ice_cfg.ufrag, ice_cfg.pwd),
                                         origin=Origin("-", str(secrets.randbits(31)), "0",
                                                       self.ip))
            except BaseException as exc:
                answered.set_exception(exc)
                raise
            answered.set_result(sdp.encode())
            await self._media(state, ice)
        await self.daemon.events.reach(CmsEvent.ENDED, state.call.call_id)

    async def _media(self, state: _CallState, ice: IceSession) -> None:
        try:
            result = await ice.completed()
        except IceFailed as exc:
            state.report = [str(r) for r in exc.report]
            await self.daemon.events.reach(DaemonEvent.FAILED, f"ICE: {exc.reason}")
            await self.ua.wait_ended(state.call, FOREVER)
            return
        state.report = [str(r) for r in result.report]
        state.pair = pair_text(result.pair)
        await self.daemon.events.reach(CmsEvent.ICE,
                                       f"{result.stream.local} <- {result.stream.remote}")
        state.media = MediaRun(self.daemon, result.stream, role="viewer")
        state.media.start()
        await self.ua.wait_ended(state.call, FOREVER)
        await state.media.stop()

    async def hangup(self, req: dict[str, Any]) -> dict[str, Any]:
        live = [s for s in self.calls.values() if s.call.state == "confirmed"]
        if not live:
            return {"ok": False, "error": "no call to hang up"}
        for state in live:
            await self.ua.bye(state.call, within=float(req.get("within", 10.0)))
        return {"ended": [s.call.call_id for s in live]}

    async def stats(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"calls": [{"call_id": s.call.call_id, "state": s.call.state, "pair": s.pair,
                           "ice": s.report, "media": s.media.stats() if s.media else None}
                          for s in self.calls.values()]}


async def serve(daemon: Daemon) -> None:
    meeting = Meeting(daemon)
    assert daemon.tg is not None
    daemon.tg.create_task(meeting.ua.serve())
    await meeting.ua.transport.ready.wait()
    await daemon.ready()


if __name__ == "__main__":
    sys.exit(main(serve))
