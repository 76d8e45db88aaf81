"""What the two user agents (the Skype client and CMS) share: their SIP stack, reading the
peer's SDP, and the media that runs on the ICE stream until the call ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from lab.aio.media import FrameStream, MediaEndpoint
from lab.aio.sip_transport import Listener, TransportConfig
from lab.aio.sip_ua import SipUserAgent
from lab.proto.ice import CandidatePair, label
from lab.proto.rtp import MediaStats
from lab.proto.sdp import Candidate, SessionDescription, ice_credentials, share_media
from lab.proto.sip.ua import UaConfig
from lab.topology.events import CallEvent
from nodes.common import Daemon

log = logging.getLogger("nodes.call")

#: the media of a call runs until the call ends; this bounds it should nobody end it
MEDIA_LIMIT_S = 3600.0
RTCP_INTERVAL_S = 0.25  # RFC 3550 §6.4: short, so that a short run still measures the RTT


@dataclass(frozen=True)
class RemoteSdp:
    """The peer's application-sharing session: its candidates and ICE credentials."""

    candidates: list[Candidate]
    ufrag: str
    pwd: str

    @classmethod
    def parse(cls, body: bytes) -> RemoteSdp:
        """Raises the SDP codec's ParseError on anything unusable."""
        sd = SessionDescription.parse(body)
        media = share_media(sd)
        cred = ice_credentials(media, sd)
        return cls(list(media.candidates), cred.ufrag, cred.pwd)


def user_agent(daemon: Daemon, config: UaConfig, listen: tuple[str, int] | None,
               on_invite: Any = None) -> SipUserAgent:
    server_ssl, client_ssl = daemon.tls()
    listeners = (Listener(listen[0], listen[1]),) if listen is not None else ()
    transport = TransportConfig(daemon.config.transport, listeners, server_ssl=server_ssl,
                                client_ssl=client_ssl)
    return SipUserAgent(config, transport, on_invite)


def pair_text(pair: CandidatePair) -> str:
    """``relay TCP-ACT 192.168.1.252:51577 -> relay TCP-PASS 192.168.1.229:24000``."""
    return f"{label(pair.local)} -> {label(pair.remote)}"


class _Watched:
    """A frame stream that reports its first received frame (the ``media-received`` event)."""

    def __init__(self, stream: FrameStream, daemon: Daemon) -> None:
        self.stream, self.daemon, self.seen = stream, daemon, False

    async def read_frame(self) -> bytes | None:
        frame = await self.stream.read_frame()
        if frame is not None and not self.seen:
            self.seen = True
            await self.daemon.events.reach(CallEvent.MEDIA_RECEIVED, f"{len(frame)} bytes")
        return frame

    def write_frames(self, payloads: Any) -> None:
        self.stream.write_frames(payloads)

    async def drain(self) -> None:
        await self.stream.drain()

    async def close(self) -> None:
        await self.stream.close()


class MediaRun:
    """One end's media on the ICE stream, from :meth:`start` until :meth:`stop`."""

    def __init__(self, daemon: Daemon, stream: FrameStream, *, role: str,
                 rate_bps: int = 2_000_000) -> None:
        self.daemon = daemon
        self.endpoint = MediaEndpoint(_Watched(stream, daemon), role=role, rate_bps=rate_bps,
                                      rtcp_interval=RTCP_INTERVAL_S)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [self.daemon.spawn("media send", self.endpoint.send(MEDIA_LIMIT_S)),
                       self.daemon.spawn("media receive", self.endpoint.receive())]
        self.daemon.events.add(CallEvent.MEDIA, self.endpoint.role)

    async def stop(self) -> MediaStats:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return self.endpoint.stats()

    def stats(self) -> dict[str, Any]:
        return dict(self.endpoint.stats().as_dict())
