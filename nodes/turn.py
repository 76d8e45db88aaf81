"""The TURN servers of the Skype Edge and of Expressway-E, configured from the topology."""

from __future__ import annotations

from lab.net.turn_server import TurnServer
from lab.proto.turn.config import TurnServerConfig
from lab.topology.roles import TurnServerSettings

#: RFC 6062 §5.3: a peer connection waits 30 s for its ConnectionBind.
BIND_TIMEOUT = 30.0


def turn_server(t: TurnServerSettings, time_scale: float = 1.0) -> TurnServer:
    """``tcp: false`` answers TCP allocations with 442, as an Expressway before X8.9 did."""
    ports = tuple(p for r in t.relay_ports for p in r.ports())
    return TurnServer(TurnServerConfig(
        listen=tuple(hp.pair for hp in t.listen), relay_ip=str(t.relay_ip), relay_ports=ports,
        realm=t.realm, users=dict(t.users), refuse_tcp=not t.tcp,
        bind_timeout=BIND_TIMEOUT * time_scale))
