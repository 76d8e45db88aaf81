"""What the capture of a run must show, computed from the topology, and the scenario's verdict.

* :func:`ladder_names`: the seed's four columns (Skype for Business | Expressway-E |
  Expressway-C | Meeting Server) with the addresses of the topology's nodes of those roles;
  every other node's addresses are named after the node (``sfb-client``, ``sfb-nat``).
* :func:`expected_values`: per step of flow.md §3, the values the wire must carry (the ladder
  marks a step ``wrong value`` otherwise): both SDPs built by the SDP builders of flow.md §4
  from the topology's addresses, ports and ICE credentials; the relayed and mapped addresses
  (first relay port, the NAT's pinned mapping); the Edge's connection from its first relay
  port; the first four bytes of the Edge's ICE check, computed by encoding a check with the
  topology's credentials (``00 6c 00 01`` for the seed's). Nothing is pasted from the spec.
* :func:`judge`: the scenario's expectations against the ladder, the call's outcome and
  the diagnosis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address

from lab.daemons.sip_routes import owner
from lab.ladder import Ladder, Names, make_names
from lab.proto.ice import binding_request
from lab.proto.sdp import (
    CandidateSpec,
    IceCredentials,
    Origin,
    SessionDescription,
    build_share_answer,
    build_share_offer,
    ms_candidates,
)
from lab.proto.stun import Rfc4571Framer
from lab.scenario import Expect
from lab.topology import Node, Topology
from lab.topology.roles import CmsSettings, ExpresswayESettings, SfbClientSettings, SfbEdgeSettings

#: topology role -> ladder column
COLUMNS = {"sfb-edge": "sfb", "expressway-e": "expressway-e", "expressway-c": "expressway-c",
           "cms": "cms"}
SDP_KEEP = ("m=", "a=candidate:", "a=x-applicationsharing-", "a=setup:")


def ladder_names(topo: Topology) -> Names:
    columns: dict[str, list[str]] = {}
    hosts: dict[str, str] = {}
    for node in topo.nodes:
        addrs = [str(a) for a in node.addresses]
        if node.role in COLUMNS:
            columns.setdefault(COLUMNS[node.role], []).extend(addrs)
        else:
            hosts.update(dict.fromkeys(addrs, node.name))
    return make_names(columns, hosts=hosts, source=f"topology {topo.name}")


@dataclass(frozen=True)
class _Seed:
    """The nodes of the share and their settings."""

    client: Node
    cs: SfbClientSettings
    edge: SfbEdgeSettings
    expe: ExpresswayESettings
    cms: CmsSettings

    @classmethod
    def of(cls, topo: Topology) -> _Seed | None:
        client = next((n for n in topo.nodes if isinstance(n.settings, SfbClientSettings)), None)
        cms = next((n for n in topo.nodes if isinstance(n.settings, CmsSettings)), None)
        if client is None or cms is None:
            return None
        assert isinstance(client.settings, SfbClientSettings)
        assert isinstance(cms.settings, CmsSettings)
        edge = owner(topo, client.settings.turn.servers[0].host)
        expe = owner(topo, cms.settings.turn.server.host)
        if edge is None or expe is None or not isinstance(edge.settings, SfbEdgeSettings) or \
                not isinstance(expe.settings, ExpresswayESettings):
            return None
        return cls(client, client.settings, edge.settings, expe.settings, cms.settings)


def mapped(topo: Topology, ip: IPv4Address, port: int) -> tuple[str, int]:
    """Where a TCP connection from ``ip:port`` appears after the NATs of the topology."""
    for node in topo.nodes:
        nat = node.nat
        if nat is None or ip not in nat.source:
            continue
        for pin in nat.pinned:
            if pin.proto == "tcp" and (pin.inside.host, pin.inside.port) == (ip, port):
                return str(pin.outside.host), pin.outside.port
        return str(nat.to), port
    return str(ip), port


def _relay_ports(t: ExpresswayESettings | SfbEdgeSettings) -> list[int]:
    return [p for r in t.turn.relay_ports for p in r.ports()][:2]


def _sdp_lines(sd: SessionDescription) -> str:
    return "\n".join(line for line in str(sd).replace("\r\n", "\n").split("\n")
                     if line.startswith(SDP_KEEP))


def expected_values(topo: Topology) -> dict[int, dict[str, str]]:
    """Step number -> value name -> the text the ladder must find (see the module doc)."""
    seed = _Seed.of(topo)
    if seed is None:
        return {}
    cs, cms = seed.cs, seed.cms
    client_ip = seed.client.addresses[0]
    nat_ip, nat_port = mapped(topo, client_ip, cs.turn.control_port)
    edge_relay, expe_relay = str(seed.edge.turn.relay_ip), str(seed.expe.turn.relay_ip)
    edge_ports, expe_port = _relay_ports(seed.edge), _relay_ports(seed.expe)[0]
    offer_specs = [
        CandidateSpec("host", "TCP-PASS", str(client_ip), cs.host_ports.passive),
        CandidateSpec("host", "TCP-ACT", str(client_ip), cs.host_ports.active),
        CandidateSpec("relay", "TCP-PASS", edge_relay, edge_ports[0], nat_ip, nat_port),
        CandidateSpec("relay", "TCP-ACT", edge_relay, edge_ports[-1], nat_ip, nat_port),
        CandidateSpec("srflx", "TCP-ACT", nat_ip, nat_port, str(client_ip), cs.turn.control_port),
    ]
    cms_ip = str(cms.sip_listen.host)
    cms_mapped = mapped(topo, cms.sip_listen.host, cms.turn.control_port)
    answer_specs = [CandidateSpec("host", "TCP-PASS", cms_ip, cms.host_port),
                    CandidateSpec("relay", "TCP-PASS", expe_relay, expe_port, cms_ip,
                                  cms.turn.control_port)]
    origin = Origin("-", "0", "0", str(client_ip))  # not compared (o= is per session)
    offer = _sdp_lines(build_share_offer(offer_specs, ice=IceCredentials(cs.ice.ufrag,
                                                                         cs.ice.pwd),
                                         origin=origin))
    answer = _sdp_lines(build_share_answer(answer_specs, ice=IceCredentials(
        cms.ice.ufrag, cms.ice.pwd), origin=origin))
    active_relay = next(c for c in ms_candidates(offer_specs)
                        if c.typ == "relay" and c.direction == "active" and c.component == 1)
    check = binding_request(local_ufrag=cs.ice.ufrag, remote_ufrag=cms.ice.ufrag,
                            remote_pwd=cms.ice.pwd, local=active_relay, controlling=True,
                            tie_breaker=0, use_candidate=True, ms_ice2=True,
                            transaction_id=bytes(12))
    peer = f"{edge_relay}:{edge_ports[0]}"
    relayed = f"{expe_relay}:{expe_port}"
    return {
        1: {"SDP": offer}, 3: {"SDP": offer}, 5: {"SDP": offer},
        6: {"REQUESTED-TRANSPORT": "6 (TCP)"},
        7: {"ERROR-CODE": "401 Unauthorized"},
        9: {"XOR-RELAYED-ADDRESS": relayed,
            "XOR-MAPPED-ADDRESS": f"{cms_mapped[0]}:{cms_mapped[1]}"},
        11: {"SDP": answer}, 12: {"SDP": answer}, 13: {"SDP": answer},
        17: {"from": peer, "to": relayed,
             "first bytes": Rfc4571Framer.frame(check)[:4].hex(" ")},
        18: {"XOR-PEER-ADDRESS": peer},
        19: {"from": f"{cms_ip}:{cms.turn.data_port}"},
    }


def judge(expect: Expect, ladder: Ladder | None, problems: list[str],
          diagnosis: Sequence[str] = ()) -> list[str]:
    """The scenario's expectations that do not hold (empty: the run passes).

    The run's own verdict is ``pass`` when the ladder passed and the call went through
    without problems (media both ways for the whole time, hang-up answered). Each of
    ``expect.diagnosis`` must appear (case does not matter) in a line of ``diagnosis``
    (:func:`lab.run.diagnose.diagnose`, computed from the capture)."""
    if ladder is None:
        return ["no ladder: the capture could not be read"]
    got = "pass" if ladder.verdict.passed and not problems else "fail"
    unmet = []
    if got != expect.verdict:
        why = ladder.verdict.summary if not ladder.verdict.passed else "; ".join(problems)
        unmet.append(f"expected verdict {expect.verdict}, got {got}: {why}")
    if expect.stopped_at is not None and ladder.verdict.stopped_at != expect.stopped_at:
        unmet.append(f"expected the ladder to stop at step {expect.stopped_at}, it stopped at "
                     f"{ladder.verdict.stopped_at}")
    for words in expect.diagnosis:
        if not any(words.lower() in line.lower() for line in diagnosis):
            unmet.append(f"expected the diagnosis to say {words!r}; it does not")
    return unmet
