"""Node roles and the schema of each role's ``settings:`` block in a topology file.

A role says what a node is (a host running a daemon, a router, a bridging firewall) and how its
``settings:`` are read: strictly, by :mod:`lab.base.datafile`, into the frozen dataclasses below.
The node daemons (``nodes/<role>.py``) receive these settings; scenario files override a few of them
with ``Document.read(cls, keys, base=current)``.

To extend a role: add a field here (with a default if old files must keep loading) and write it
in ``topologies/*.yaml``. Types that must be an address of the node itself (``ListenAddress``,
``LocalIP``) are checked against the node's interfaces when the topology is loaded.

Every value written in the default topology is a [LAB] or [SEED] value of flow.md /
docs/architecture.md; none is a default here, so the topology file stays the one place to read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from lab.topology.events import (
    CallEvent,
    CmsEvent,
    DaemonEvent,
    ExpresswayCEvent,
    SfbClientEvent,
    names,
)
from lab.topology.values import HostPort, ListenAddress, LocalIP, Port, PortRange, RouteTarget

# RFC 5245 §15.1: ice-char = ALPHA / DIGIT / "+" / "/"
_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")


@dataclass(frozen=True)
class IceCredentials:
    """``a=ice-ufrag`` / ``a=ice-pwd`` (RFC 5245 §15.4: ufrag 4-256, pwd 22-256 ice-chars)."""

    ufrag: str
    pwd: str

    def __post_init__(self) -> None:
        for name, value, low in (("ufrag", self.ufrag, 4), ("pwd", self.pwd, 22)):
            if not low <= len(value) <= 256 or not _ICE_CHARS.fullmatch(value):
                raise ValueError(f"ice {name} must be {low}-256 characters of A-Z a-z 0-9 + / "
                                 "(RFC 5245 §15.4)")


@dataclass(frozen=True)
class Media:
    """The media stream a sharer sends (RTP PT 127 over RFC 4571 framing)."""

    packets_per_second: int
    payload_bytes: int

    def __post_init__(self) -> None:
        if not 1 <= self.packets_per_second <= 10000 or not 12 <= self.payload_bytes <= 60000:
            raise ValueError("media: packets_per_second must be 1-10000 and payload_bytes "
                             "12-60000")


@dataclass(frozen=True)
class ClientTurn:
    """The Skype client's TURN use of its Edge: one control connection per server, all from
    ``control_port`` (SO_REUSEADDR), so the NAT maps them to one public port (flow.md §1)."""

    servers: tuple[HostPort, ...]
    username: str
    password: str
    control_port: Port


@dataclass(frozen=True)
class HostPorts:
    """Ports of the MS-ICE2 TCP host candidates (flow.md §4.1)."""

    passive: Port
    active: Port


@dataclass(frozen=True)
class SfbClientSettings:
    """``sfb-client``: the sharer (SIP UA, ICE controlling, TURN client of the Edge)."""

    sip_uri: str
    outbound_proxy: HostPort
    share_target: str
    turn: ClientTurn
    host_ports: HostPorts
    ice: IceCredentials
    media: Media


@dataclass(frozen=True)
class TurnServerSettings:
    """A TURN server (RFC 5766 + RFC 6062): where it listens, where it relays from."""

    listen: tuple[ListenAddress, ...]
    relay_ip: LocalIP
    relay_ports: tuple[PortRange, ...]
    realm: str
    users: dict[str, str]
    tcp: bool = field(default=True, metadata={"doc": "RFC 6062 TCP allocations (X8.9 and later)"})


@dataclass(frozen=True)
class EdgeSip:
    """The Access Edge's SIP proxy."""

    listen: tuple[ListenAddress, ...]
    domain: str
    routes: dict[str, RouteTarget]


@dataclass(frozen=True)
class SfbEdgeSettings:
    """``sfb-edge``: Access Edge (SIP proxy) and A/V Edge (TURN server of the client)."""

    sip: EdgeSip
    turn: TurnServerSettings


@dataclass(frozen=True)
class ExpresswayESip:
    """Expressway-E's SIP proxy: public listener, traversal zone server, static routes."""

    listen: tuple[ListenAddress, ...]
    traversal_listen: ListenAddress
    routes: dict[str, RouteTarget]
    source_ports: PortRange


@dataclass(frozen=True)
class ExpresswayESettings:
    """``expressway-e``: SIP proxy + traversal server + TURN server (relays on the external NIC)."""

    sip: ExpresswayESip
    turn: TurnServerSettings


@dataclass(frozen=True)
class ExpresswayCSip:
    """Expressway-C: traversal zone client and SIP proxy towards CMS. Route ``"*"`` matches every
    domain without a route of its own."""

    traversal_server: HostPort
    source_ports: PortRange
    routes: dict[str, RouteTarget]


@dataclass(frozen=True)
class ExpresswayCSettings:
    """``expressway-c``."""

    sip: ExpresswayCSip


@dataclass(frozen=True)
class CmsTurn:
    """CMS as a TURN client of Expressway-E (control and ConnectionBind data connections)."""

    server: HostPort
    username: str
    password: str
    control_port: Port
    data_port: Port
    connection_bind: bool = field(default=True, metadata={
        "doc": "answer each ConnectionAttempt with a ConnectionBind (RFC 6062 §4.3); false "
        "withholds it (a fault: Expressway-E closes the peer's connection after 30 s)"})


@dataclass(frozen=True)
class CmsSettings:
    """``cms``: the call bridge (SIP UA, viewer, ICE controlled)."""

    sip_listen: ListenAddress
    meeting_uri: str
    attendees_may_share: bool
    turn: CmsTurn
    host_port: Port
    ice: IceCredentials


NodeKind = Literal["host", "bridge"]


@dataclass(frozen=True)
class Role:
    """What a node is. ``kind="bridge"`` nodes hold the bridges of segments (no addresses).
    A role with a daemon names its module (``python -m nodes.<role>``), the settings model its
    ``settings:`` are read into and the events it reports (:mod:`lab.topology.events`)."""

    name: str
    kind: NodeKind
    description: str
    settings: type | None = None
    policy: bool = False  # a firewall: an nftables policy file is loaded into it
    daemon: str | None = None  # the daemon's module
    events: tuple[str, ...] = ()  # what a fault may wait for (NODE:EVENT)


ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        Role("sfb-client", "host", "Skype for Business client (sharer)", SfbClientSettings,
             daemon="nodes.sfb_client",
             events=names(SfbClientEvent, CallEvent, DaemonEvent)),
        Role("nat", "host", "NAT router (nftables SNAT)"),
        Role("sfb-edge", "host", "Skype Edge: Access Edge + A/V Edge", SfbEdgeSettings,
             daemon="nodes.sfb_edge", events=names(DaemonEvent)),
        Role("expressway-e", "host", "Expressway-E: SIP, traversal server, TURN",
             ExpresswayESettings, daemon="nodes.expressway_e", events=names(DaemonEvent)),
        Role("expressway-c", "host", "Expressway-C: traversal client, SIP proxy",
             ExpresswayCSettings, daemon="nodes.expressway_c",
             events=names(ExpresswayCEvent, DaemonEvent)),
        Role("cms", "host", "Cisco Meeting Server call bridge", CmsSettings, daemon="nodes.cms",
             events=names(CmsEvent, CallEvent, DaemonEvent)),
        Role("host", "host", "plain host (no daemon)"),
        Role("firewall", "bridge", "transparent stateful bridging firewall", policy=True),
        Role("switch", "bridge", "plain bridge (no filtering)"),
    )
}
