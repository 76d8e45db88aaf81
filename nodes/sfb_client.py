"""``sfb-client``: the Skype for Business client, the sharer (caller, ICE controlling).

Nothing happens until the control command ``share``: then it gathers its five candidates in the
seed's order (flow.md §4.1): host passive and active, a TCP relay on each of its Edge's TURN
listeners (both control connections from 17676, which the NAT maps to 65417; the active relay's
Connects go out on the passive relay's allocation, so the Edge connects from 53577:
docs/ice-media.md), and the server-reflexive address. It sends the share INVITE through its
Edge (steps 1-5), runs ICE with CMS's answer (17-23), re-INVITEs with the selected pair
(24-32) and sends the share's RTP (33) until the call ends.

Control commands (besides ``status`` and ``wait``): ``share`` (start; progress as events
``invite``, ``answered``, ``ice``, ``reinvited``, ``media``, ``media-received``, ``ended``, or
``failed``), ``stats``, ``hangup``.

    python -m nodes.sfb_client --config <run>/config/sfb-client.json --control ...
"""

from __future__ import annotations

import logging
import secrets
import sys
from typing import Any

from lab.aio.ice import IceFailed, IceGatherer, IceResult, IceSession
from lab.aio.sip_ua import CallFailed, SipUserAgent
from lab.aio.turn_client import TurnClient
from lab.proto.ice import IceConfig
from lab.proto.sdp import (
    IceCredentials,
    Origin,
    build_share_offer,
    build_share_sdp,
    ms_candidates,
)
from lab.proto.sip.core import DEFAULT_PORTS
from lab.proto.sip.ua import Call, UaConfig
from lab.proto.sip.uri import Uri
from lab.topology.events import DaemonEvent, SfbClientEvent
from lab.topology.roles import SfbClientSettings
from nodes.call import MediaRun, RemoteSdp, pair_text, user_agent
from nodes.common import Daemon, main

log = logging.getLogger("nodes.sfb_client")

FOREVER = 24 * 3600.0
#: how long the client waits for the answer to its INVITE or re-INVITE (a user's patience, not
#: an RFC timer); a time scale above 1 (a step-by-step tour holds CMS at its stops) lengthens it
ANSWER_WAIT = 40.0


class Sharer:
    """The client and its one share at a time."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.s = daemon.config.settings_as(SfbClientSettings)
        self.ip = daemon.config.address
        kind = daemon.config.transport
        port = DEFAULT_PORTS[kind]
        aor = Uri.parse(self.s.sip_uri)
        proxy = self.s.outbound_proxy
        config = UaConfig(
            aor=aor, contact=Uri("sip", self.ip, aor.user, port=port,
                                 params=(("transport", kind),)),
            host=self.ip, port=port, transport=kind, alias=True,
            outbound_proxy=Uri("sip", str(proxy.host), port=proxy.port,
                               params=(("transport", kind), ("lr", None))))
        self.ua: SipUserAgent = user_agent(daemon, config, None)
        self.call: Call | None = None
        self.media: MediaRun | None = None
        self.report: list[str] = []
        self.pair = ""
        self.busy = False
        daemon.command("share", self.share)
        daemon.command("hangup", self.hangup)
        daemon.command("stats", self.stats)

    async def share(self, req: dict[str, Any]) -> dict[str, Any]:
        if self.busy:
            return {"ok": False, "error": "a share is already in progress"}
        target = str(req.get("target") or self.s.share_target)
        self.busy = True
        mark = len(self.daemon.events.items)
        self.daemon.spawn("share", self._share(Uri.parse(target)))
        return {"target": target, "after": mark}

    async def _share(self, target: Uri) -> None:
        try:
            g = await self._gather()
            await self._call(g, target)
        except (CallFailed, IceFailed, OSError, TimeoutError) as exc:
            await self.daemon.events.reach(DaemonEvent.FAILED, str(exc).splitlines()[0])
            log.warning("share failed: %s", exc)
        finally:
            self.busy = False

    async def _gather(self) -> IceGatherer:
        g = IceGatherer()
        try:
            await g.host_passive(self.ip, self.s.host_ports.passive)
            g.host_active(self.ip, self.s.host_ports.active)
            t = self.s.turn
            local = (self.ip, t.control_port)
            first = await g.relay_passive(TurnClient(t.servers[0].pair, t.username, t.password,
                                                     local_addr=local))
            for server in t.servers[1:2]:
                await g.relay_active(TurnClient(server.pair, t.username, t.password,
                                                local_addr=local), connect_via=first)
            g.srflx_active(first)
        except BaseException:
            await g.close()
            raise
        await self.daemon.events.reach(SfbClientEvent.GATHERED, f"{len(g.specs)} candidates")
        return g

    def _patience(self) -> float:
        return ANSWER_WAIT * max(1.0, self.daemon.config.time_scale)

    def _sdp(self, g: IceGatherer, foundation: str | None = None) -> bytes:
        ice = IceCredentials(self.s.ice.ufrag, self.s.ice.pwd)
        origin = Origin("-", str(secrets.randbits(31)), "1", self.ip)
        if foundation is None:
            return build_share_offer(g.specs, ice=ice, origin=origin).encode()
        chosen = [c for c in ms_candidates(g.specs) if c.foundation == foundation]
        default = next(c for c in chosen if c.component == 1)
        return build_share_sdp(chosen, ice=ice, role="sharer", proto="TCP/RTP/AVP",
                               default=default, origin=origin).encode()

    async def _call(self, g: IceGatherer, target: Uri) -> None:
        cands = ms_candidates(g.specs)
        async with IceSession(g, cands, controlling=True, ufrag=self.s.ice.ufrag,
                              pwd=self.s.ice.pwd, config=IceConfig(ms_ice2=True).scaled(
                                  self.daemon.config.time_scale)) as ice:
            await self.daemon.events.reach(SfbClientEvent.INVITE, str(target))
            call, answer = await self.ua.invite(target, self._sdp(g), within=self._patience())
            self.call = call
            await self.daemon.events.reach(SfbClientEvent.ANSWERED, call.call_id)
            remote = RemoteSdp.parse(answer)
            await ice.set_remote(remote.ufrag, remote.pwd, remote.candidates)
            try:
                result = await ice.completed()
            except IceFailed as exc:
                self.report = [str(r) for r in exc.report]
                await self.ua.bye(call)
                raise
            await self._share_media(g, call, result)
        await self.daemon.events.reach(SfbClientEvent.ENDED, call.call_id)

    async def _share_media(self, g: IceGatherer, call: Call, result: IceResult) -> None:
        self.report = [str(r) for r in result.report]
        self.pair = pair_text(result.pair)
        await self.daemon.events.reach(SfbClientEvent.ICE,
                                       f"{result.stream.local} -> {result.stream.remote}")
        await self.ua.reinvite(call, self._sdp(g, result.pair.local.foundation),
                               within=self._patience())
        await self.daemon.events.reach(SfbClientEvent.REINVITED)
        m = self.s.media
        self.media = MediaRun(self.daemon, result.stream, role="sharer",
                              rate_bps=m.packets_per_second * m.payload_bytes * 8)
        self.media.start()
        await self.ua.wait_ended(call, FOREVER)
        await self.media.stop()

    async def hangup(self, req: dict[str, Any]) -> dict[str, Any]:
        if self.call is None or self.call.state != "confirmed":
            return {"ok": False, "error": "no call to hang up"}
        await self.ua.bye(self.call, within=float(req.get("within", 10.0)))
        return {"ended": self.call.call_id}

    async def stats(self, req: dict[str, Any]) -> dict[str, Any]:
        call = self.call
        return {"call_id": call.call_id if call else None,
                "state": call.state if call else "idle", "pair": self.pair, "ice": self.report,
                "media": self.media.stats() if self.media else None}


async def serve(daemon: Daemon) -> None:
    sharer = Sharer(daemon)
    assert daemon.tg is not None
    daemon.tg.create_task(sharer.ua.serve())
    await sharer.ua.transport.ready.wait()
    await daemon.ready()


if __name__ == "__main__":
    sys.exit(main(serve))
