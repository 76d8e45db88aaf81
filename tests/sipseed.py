"""The seed's SIP path as data, for the tests: proxy configurations of the Edge and both
Expressways, and the two user agents (flow.md §1-§3, architecture.md [LAB] values), written out
by hand. The node daemons do not use this: they build their cores from the topology
(``lab.daemons.config``); tests use it to drive the SIP stack on the seed's addresses.
``transport`` is the topology's ``sip_transport: tls|tcp``.

Each dual-homed proxy double Record-Routes (RFC 5658) so that either side can reach it.
"""

from __future__ import annotations

from lab.proto.sip.core import Target
from lab.proto.sip.proxy import ProxyConfig, Side, StaticRoute
from lab.proto.sip.ua import UaConfig
from lab.proto.sip.uri import Uri

SIP_PORT = {"tls": 5061, "tcp": 5060}
TRAVERSAL_PORT = 7001
CLIENT = "192.168.251.128"
NAT_OUTSIDE = "10.149.4.201"
EDGE_INT, EDGE_EXT = "10.149.4.10", "192.168.1.252"
EXPE_EXT, EXPE_INT = "192.168.1.229", "10.48.54.229"
EXPC, CMS = "10.48.54.227", "10.48.54.230"
SFB_DOMAIN, VC_DOMAIN = "sfb.lab", "vc.lab"
MEETING = "88001"
EXPRESSWAY_SOURCE_PORTS = (25000, 29999)  # ports.md F2, F3, F4


def edge(transport: str = "tls") -> ProxyConfig:
    port = SIP_PORT[transport]
    return ProxyConfig(
        "sfb-edge",
        sides=(Side("internal", EDGE_INT, port, transport),
               Side("external", EDGE_EXT, port, transport)),
        routes=(
            StaticRoute((VC_DOMAIN, EXPE_EXT), "external", Target(transport, EXPE_EXT, port)),
            StaticRoute((SFB_DOMAIN, CLIENT, NAT_OUTSIDE), "internal", zone="sfb"),
        ),
        registrar=((SFB_DOMAIN, "sfb"),))


def expressway_e(transport: str = "tls") -> ProxyConfig:
    port = SIP_PORT[transport]
    return ProxyConfig(
        "expressway-e",
        sides=(Side("external", EXPE_EXT, port, transport),
               Side("internal", EXPE_INT, TRAVERSAL_PORT, transport)),
        routes=(
            StaticRoute((VC_DOMAIN, EXPC, CMS), "internal", zone="traversal"),
            StaticRoute((SFB_DOMAIN, EDGE_EXT, EDGE_INT, CLIENT), "external",
                        Target(transport, EDGE_EXT, port)),
        ))


def expressway_c(transport: str = "tls") -> ProxyConfig:
    port = SIP_PORT[transport]
    return ProxyConfig(
        "expressway-c",
        sides=(Side("inside", EXPC, port, transport, alias=True),),
        routes=(
            StaticRoute((VC_DOMAIN, CMS), "inside", Target(transport, CMS, port)),
            StaticRoute((SFB_DOMAIN, EXPE_INT, EXPE_EXT, EDGE_EXT, EDGE_INT, CLIENT), "inside",
                        Target(transport, EXPE_INT, TRAVERSAL_PORT)),
        ))


def sfb_client(transport: str = "tls", user: str = "alice") -> UaConfig:
    port = SIP_PORT[transport]
    return UaConfig(
        aor=Uri("sip", SFB_DOMAIN, user),
        contact=Uri("sip", CLIENT, user, port=port, params=(("transport", transport),)),
        host=CLIENT, port=port, transport=transport,
        outbound_proxy=Uri("sip", EDGE_INT, port=port,
                           params=(("transport", transport), ("lr", None))),
        alias=True)


def cms(transport: str = "tls") -> UaConfig:
    port = SIP_PORT[transport]
    return UaConfig(
        aor=Uri("sip", VC_DOMAIN, MEETING),
        contact=Uri("sip", CMS, MEETING, port=port, params=(("transport", transport),)),
        host=CMS, port=port, transport=transport)


def meeting_uri() -> Uri:
    return Uri("sip", VC_DOMAIN, MEETING)
