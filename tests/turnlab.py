"""The TURN namespace lab of the adapter tests: our server in ``srv`` (tests/turnhelp.py's three
namespaces), one event loop per namespace, and a clock the test moves."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lab.aio.turn_client import TurnClient
from lab.aio.turn_server import TurnServer
from lab.proto.turn.config import TurnServerConfig
from tests.nethelp import NetBench, NsLoop
from tests.turnhelp import PASSWORD, REALM, SRV_IN, SRV_OUT, USER, TurnNet, build_turn_net


class FakeClock:
    """The server's clock: moved by the test, or (``real``) the monotonic clock."""

    def __init__(self, real: bool = False) -> None:
        self.now = 1000.0
        self.real = real

    def __call__(self) -> float:
        return time.monotonic() if self.real else self.now


@dataclass
class Lab:
    net: TurnNet
    srv: NsLoop
    cli: NsLoop
    peer: NsLoop
    server: TurnServer
    clock: FakeClock
    serving: concurrent.futures.Future[None]

    def advance(self, seconds: float) -> None:
        """Move the server's clock and let its timers run (no sleeping)."""
        self.clock.now += seconds
        self.srv.loop.call_soon_threadsafe(self.server.wake_timers)


def make_config(**kw: object) -> TurnServerConfig:
    base: dict[str, object] = dict(
        listen=((SRV_IN, 3478), (SRV_IN, 443)), relay_ip=SRV_OUT,
        relay_ports=tuple(range(24000, 24100)), realm=REALM,
        users={USER: PASSWORD, "other": "pw2"},
    )
    base.update(kw)
    return TurnServerConfig(**base)  # type: ignore[arg-type]


def lab_factory_impl(netbench: Callable[[], NetBench]) -> Iterator[Callable[..., Lab]]:
    made: list[NsLoop] = []  # closed at the end even when make() fails half-way

    def make(*, real_clock: bool = False, **kw: object) -> Lab:
        net = build_turn_net(netbench())
        loops = []
        for ns in (net.srv.ns, net.cli.ns, net.peer.ns):
            loops.append(NsLoop(ns))
            made.append(loops[-1])
        clock = FakeClock(real_clock)
        server = TurnServer(make_config(**kw), clock=clock)
        serving = loops[0].start(server.serve())  # cancelled when its loop closes
        loops[0].run(asyncio.wait_for(server.ready.wait(), 5))
        return Lab(net, loops[0], loops[1], loops[2], server, clock, serving)

    yield make
    for lp in made:
        lp.close()


def client(**kw: object) -> TurnClient:
    args: dict[str, object] = dict(server=(SRV_IN, 3478), username=USER, password=PASSWORD)
    args.update(kw)
    return TurnClient(**args)  # type: ignore[arg-type]
