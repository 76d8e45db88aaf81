"""The TURN servers of the Skype Edge and of Expressway-E, configured from the topology, and the
daemon both of those nodes run: a SIP proxy beside a TURN server."""

from __future__ import annotations

from lab.aio.turn_server import TurnServer
from lab.base.errors import LabError
from lab.proto.turn.config import TurnServerConfig
from lab.topology.roles import ExpresswayESettings, SfbEdgeSettings, TurnServerSettings
from nodes.common import Daemon, proxy_from_plan


def turn_server(t: TurnServerSettings, time_scale: float = 1.0) -> TurnServer:
    """``tcp: false`` answers TCP allocations with 442, as an Expressway before X8.9 did."""
    ports = tuple(p for r in t.relay_ports for p in r.ports())
    return TurnServer(TurnServerConfig(
        listen=tuple(hp.pair for hp in t.listen), relay_ip=str(t.relay_ip), relay_ports=ports,
        realm=t.realm, users=dict(t.users), refuse_tcp=not t.tcp,
        bind_timeout=TurnServerConfig.bind_timeout * time_scale))  # RFC 6062 §5.3: 30 s


async def serve_proxy_and_turn(daemon: Daemon,
                               settings_type: type[SfbEdgeSettings | ExpresswayESettings]) -> None:
    """Start the node's SIP proxy (from its SIP plan) and its TURN server; ready when both
    listen."""
    settings = daemon.config.settings_as(settings_type)
    if daemon.config.sip is None:
        raise LabError(f"{daemon.name} needs a SIP plan in its configuration")
    proxy = proxy_from_plan(daemon, daemon.config.sip)
    turn = turn_server(settings.turn, daemon.config.time_scale)
    assert daemon.tg is not None
    daemon.tg.create_task(proxy.serve())
    daemon.tg.create_task(turn.serve())
    await proxy.transport.ready.wait()
    await turn.ready.wait()
    await daemon.ready()
