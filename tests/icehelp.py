"""The seed's media path in namespaces, for the ICE and media tests (flow.md §1-§3).

::

    client 192.168.251.128 --- .1 nat 10.149.4.201 --- 10.149.4.10 edge 192.168.1.252
        --- 192.168.1.229 expe 10.48.54.229 --- 10.48.54.230 cms

The NAT maps the client's TURN control port 17676 to 65417 and everything else to
10.149.4.201; it has no route to 192.168.1.0/24 nor 10.48.54.0/24, so the client's direct
connects get ICMP net unreachable. The Edge has no route to 10.48.54.0/24 (its TURN server
answers Connect with 447). Expressway-E does not forward: only its TURN relay joins the two
sides. The firewalls of the full lab are left out: they are not what these tests are about.

:func:`run_seed_ice` runs both ICE agents (Skype side controlling, CMS controlled) with the
seed's candidate sets and returns both results.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lab.aio.ice import IceFailed, IceGatherer, IceResult, IceSession
from lab.aio.turn_client import TurnClient
from lab.proto.ice import IceConfig, PairReport, new_ufrag_pwd
from lab.proto.sdp import Candidate, ms_candidates, rfc5245_candidates
from lab.proto.turn.config import TurnServerConfig
from tests.nethelp import NetBench, Node, NsLoop, wait_listening
from tests.turnhelp import coturn

T = TypeVar("T")

CLIENT, NAT_IN, NAT_OUT = "192.168.251.128", "192.168.251.1", "10.149.4.201"
EDGE_IN, EDGE_OUT = "10.149.4.10", "192.168.1.252"
EXPE_OUT, EXPE_IN, CMS = "192.168.1.229", "10.48.54.229", "10.48.54.230"
EXPC = "10.48.54.227"
EDGE_USER, EDGE_PASSWORD = "sfb", "edge-s3cret"
CMS_USER, CMS_PASSWORD, REALM = "cms", "s3cret", "TANDBERG"

NAT_RULES = f"""
table ip nat {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "outside" ip saddr {CLIENT} tcp sport 17676 snat to {NAT_OUT}:65417
        oifname "outside" ip saddr 192.168.251.0/24 snat to {NAT_OUT}
    }}
}}
"""


@dataclass
class SeedNet:
    bench: NetBench
    client: Node
    nat: Node
    edge: Node
    expe: Node
    cms: Node
    expc: Node | None = None

    def nodes(self) -> dict[str, Node]:
        """Every node by its short name (``client``, ``nat``, ``edge``, ``expe``, [``expc``,]
        ``cms``)."""
        made = {"client": self.client, "nat": self.nat, "edge": self.edge, "expe": self.expe,
                "expc": self.expc, "cms": self.cms}
        return {name: node for name, node in made.items() if node is not None}


def build_seed_net(bench: NetBench, *, with_expc: bool = False) -> SeedNet:
    """The network above; ``with_expc``: Expressway-C too, 10.48.54.227 on the inside LAN,
    which becomes a bridge (``<prefix>-br-in``) of Expressway-E, Expressway-C and CMS."""
    client, nat, edge = bench.node("client"), bench.node("nat"), bench.node("edge")
    expe = bench.node("expe")
    expc = bench.node("expc") if with_expc else None
    cms = bench.node("cms")
    bench.segment("lan", [(client, "eth0", f"{CLIENT}/24"), (nat, "inside", f"{NAT_IN}/24")])
    bench.segment("dmz", [(nat, "outside", f"{NAT_OUT}/24"), (edge, "inside", f"{EDGE_IN}/24")])
    bench.segment("net", [(edge, "outside", f"{EDGE_OUT}/24"), (expe, "outside", f"{EXPE_OUT}/24")])
    inside = [(expe, "inside", f"{EXPE_IN}/24"), (cms, "eth0", f"{CMS}/24")]
    if expc is not None:
        inside.insert(1, (expc, "eth0", f"{EXPC}/24"))
    bench.segment("in", inside)
    client.exec("ip", "route", "add", "default", "via", NAT_IN)
    bench.forwarding(nat)
    # every unroutable SYN gets its ICMP net unreachable at once (no 1/s per-host rate limit),
    # so each doomed check fails immediately with ENETUNREACH
    nat.exec("sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
    nat.nft(NAT_RULES)
    return SeedNet(bench, client, nat, edge, expe, cms, expc)


@contextlib.contextmanager
def coturn_edge(net: SeedNet, logdir: Path) -> Iterator[None]:
    """The Skype Edge's two TURN listeners as two coturn processes: 443 relays from 53577,
    3478 from 51577 (the seed's relay ports, flow.md §2)."""
    common = ("--user", f"{EDGE_USER}:{EDGE_PASSWORD}")
    with coturn(net.edge, logdir / "edge443.log", *common, listen=EDGE_IN, relay=EDGE_OUT,
                port=443, min_port=53577, max_port=53577), \
         coturn(net.edge, logdir / "edge3478.log", *common, listen=EDGE_IN, relay=EDGE_OUT,
                port=3478, min_port=51577, max_port=51577):
        yield


@contextlib.contextmanager
def coturn_expe(net: SeedNet, logdir: Path) -> Iterator[None]:
    """Expressway-E's TURN server as coturn: 10.48.54.229:3478, relays on 192.168.1.229."""
    with coturn(net.expe, logdir / "expe.log", listen=EXPE_IN, relay=EXPE_OUT, port=3478,
                min_port=24000, max_port=24099):
        yield


# --- the two agents ---------------------------------------------------------------------


@dataclass
class Side:
    """What one agent gathered and how ICE ended for it."""

    candidates: list[Candidate] = field(default_factory=list)
    ufrag: str = ""
    pwd: str = ""
    result: IceResult | None = None
    failure: IceFailed | None = None
    checks_s: float = 0.0  # from set_remote to the selected pair (or the failure)

    @property
    def report(self) -> list[PairReport]:
        if self.result is not None:
            return self.result.report
        return self.failure.report if self.failure is not None else []


class Exchange:
    """The offer/answer between two namespace threads: what signalling would carry."""

    def __init__(self) -> None:
        self.offer: concurrent.futures.Future[Side] = concurrent.futures.Future()
        self.answer: concurrent.futures.Future[Side] = concurrent.futures.Future()
        self.go: concurrent.futures.Future[None] = concurrent.futures.Future()


MediaFn = Callable[[IceResult], Awaitable[Any]]


async def skype_side(ex: Exchange, side: Side, media: MediaFn | None = None,
                     config: IceConfig | None = None) -> Any:
    """The Skype client (caller, controlling): five candidates as in flow.md §4.1."""
    g = IceGatherer()
    await g.host_passive(CLIENT, 18027)
    g.host_active(CLIENT, 13450)
    a443 = await g.relay_passive(TurnClient((EDGE_IN, 443), EDGE_USER, EDGE_PASSWORD,
                                            local_addr=(CLIENT, 17676)))
    await g.relay_active(TurnClient((EDGE_IN, 3478), EDGE_USER, EDGE_PASSWORD,
                                    local_addr=(CLIENT, 17676)), connect_via=a443)
    g.srflx_active(a443)
    side.ufrag, side.pwd = new_ufrag_pwd()
    side.candidates = ms_candidates(g.specs)
    ex.offer.set_result(side)
    cfg = config or IceConfig(ms_ice2=True)
    async with IceSession(g, side.candidates, controlling=True, ufrag=side.ufrag, pwd=side.pwd,
                          config=cfg) as ice:
        answer = await asyncio.wrap_future(ex.answer)
        started = time.monotonic()
        await ice.set_remote(answer.ufrag, answer.pwd, answer.candidates)
        return await _finish(ice, side, media, started)


async def cms_side(ex: Exchange, side: Side, media: MediaFn | None = None,
                   config: IceConfig | None = None) -> Any:
    """CMS (callee, controlled): host and Expressway-E relay candidates (flow.md §4.2)."""
    offer = await asyncio.wrap_future(ex.offer)
    g = IceGatherer()
    await g.host_passive(CMS, 38547)
    await g.relay_passive(TurnClient((EXPE_IN, 3478), CMS_USER, CMS_PASSWORD, realm=REALM,
                                     local_addr=(CMS, 33347), data_local_ports=[33348]))
    side.ufrag, side.pwd = new_ufrag_pwd()
    side.candidates = rfc5245_candidates(g.specs)
    async with IceSession(g, side.candidates, controlling=False, ufrag=side.ufrag,
                          pwd=side.pwd, config=config) as ice:
        started = time.monotonic()
        await ice.set_remote(offer.ufrag, offer.pwd, offer.candidates)
        ex.answer.set_result(side)  # permissions are in place before the answer leaves
        return await _finish(ice, side, media, started)


async def _finish(ice: IceSession, side: Side, media: MediaFn | None, started: float) -> Any:
    try:
        side.result = await ice.completed()
    except IceFailed as exc:
        side.failure = exc
        return None
    finally:
        side.checks_s = time.monotonic() - started
    return await media(side.result) if media is not None else None


def run_pair(skype_loop: NsLoop, cms_loop: NsLoop, *, media_skype: MediaFn | None = None,
             media_cms: MediaFn | None = None, timeout: float = 30.0,
             ) -> tuple[Side, Side, Any, Any]:
    """Run both agents to the end; returns both sides and what the media functions returned."""
    ex = Exchange()
    skype, cms = Side(), Side()
    f1 = asyncio.run_coroutine_threadsafe(skype_side(ex, skype, media_skype), skype_loop.loop)
    f2 = asyncio.run_coroutine_threadsafe(cms_side(ex, cms, media_cms), cms_loop.loop)
    try:
        r1, r2 = f1.result(timeout), f2.result(timeout)
    finally:
        for f in (f1, f2):
            f.cancel()
    return skype, cms, r1, r2


# --- our TURN server (lab.aio.turn_server) in a namespace loop ---------------------------------


def edge_turn_config() -> TurnServerConfig:
    """The Skype Edge's TURN server: :443 and :3478, relays 53577 then 51577 (flow.md §2)."""
    return TurnServerConfig(listen=((EDGE_IN, 443), (EDGE_IN, 3478)), relay_ip=EDGE_OUT,
                            relay_ports=(53577, 51577), realm="sfb.lab",
                            users={EDGE_USER: EDGE_PASSWORD})


def expe_turn_config() -> TurnServerConfig:
    """Expressway-E's TURN server: 10.48.54.229:3478, relays from 24000 on 192.168.1.229."""
    return TurnServerConfig(listen=((EXPE_IN, 3478),), relay_ip=EXPE_OUT,
                            relay_ports=tuple(range(24000, 24100)), realm=REALM,
                            users={CMS_USER: CMS_PASSWORD})


def serve_turn(loop: NsLoop, node: Node, config: TurnServerConfig) -> None:
    """Start our TURN server on ``loop`` (in ``node``'s namespace); ready when it listens.
    It stops when the loop is closed (its task is cancelled)."""
    from lab.aio.turn_server import TurnServer  # noqa: PLC0415 - the TURN issue's module

    # a concurrent future: NsLoop.submit's asyncio.wrap_future needs a loop in *this* thread
    asyncio.run_coroutine_threadsafe(TurnServer(config).serve(), loop.loop)
    for _host, port in config.listen:
        wait_listening(node, port)
