"""Our TURN client against coturn (the reference server), in three namespaces (tests/turnhelp.py):
both RFC 6062 directions, data both ways, early peer data not lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from lab.aio.turn_client import Trace, TurnClient, TurnError
from tests.conftest import require_tool
from tests.nethelp import NetBench, ns_loops, tcpdump
from tests.turncapture import check_integrity, long_term, stun_messages, tshark_check
from tests.turnhelp import (
    CLI,
    PASSWORD,
    PEER,
    REALM,
    SRV_IN,
    SRV_OUT,
    USER,
    build_turn_net,
    coturn,
    echo_server,
    read_exactly,
)


def test_client_connect_and_accept_through_coturn(
    netbench: Callable[[], NetBench], tmp_path: Path
) -> None:
    require_tool("turnserver")
    net = build_turn_net(netbench())
    traces: list[Trace] = []
    pcap = tmp_path / "coturn.pcap"
    with coturn(net.srv, tmp_path / "coturn.log"), tcpdump(net.srv, "eth0", pcap), ns_loops(
        net.cli.ns, net.peer.ns
    ) as (cli, peer):
        server = peer.run(echo_server(PEER, 7000))

        async def client_side() -> None:
            async with TurnClient((SRV_IN, 3478), USER, PASSWORD, realm="TANDBERG",
                                  local_addr=(CLI, 33347), data_local_ports=[33348],
                                  on_message=traces.append) as client:
                alloc = await client.allocate()
                assert alloc.relayed[0] == SRV_OUT and 24000 <= alloc.relayed[1] <= 24099
                assert alloc.mapped == (CLI, 33347)
                # Connect (RFC 6062 §4.3): coturn connects from the relayed address
                stream = await client.connect((PEER, 7000))
                assert stream.local == (CLI, 33348)
                stream.writer.write(b"ping through coturn")
                assert await read_exactly(stream.reader, 19) == b"ping through coturn"
                await stream.close()
                # a second Connect to the same peer while the first is open: 446
                # (tested against our server in the negative tests)
                # peer-initiated (RFC 6062 §4.4), with early data before the bind
                await client.create_permission(PEER)
                accepted = asyncio.ensure_future(client.accept())
                peer_done = peer.submit(peer_connects(alloc.relayed))
                s2 = await accepted
                assert s2.peer[0] == PEER
                assert await read_exactly(s2.reader, 11) == b"early bytes"
                s2.writer.write(b"reply")
                await s2.writer.drain()
                await peer_done
                await s2.close()

        async def peer_connects(relayed: tuple[str, int]) -> None:
            reader, writer = await asyncio.open_connection(*relayed)
            writer.write(b"early bytes")  # sent before the client has bound
            await writer.drain()
            assert await read_exactly(reader, 5) == b"reply"
            writer.close()

        cli.run(client_side(), timeout=40)
        server.close()
    seen = [(t.direction, t.message.describe()) for t in traces]
    assert ("recv", "Allocate error 401 (Unauthorized)") in seen
    assert ("recv", "ConnectionAttempt indication") in seen
    assert ("recv", "ConnectionBind success") in seen
    assert seen[-1] == ("recv", "Refresh success")
    # the capture: tshark decodes every message; MI and FINGERPRINT recomputed independently
    messages = stun_messages(pcap, 3478)
    assert len(messages) == len(traces)
    assert tshark_check(pcap, 3478) == len(messages)
    key = long_term(USER, REALM, PASSWORD)
    results = [check_integrity(m, key) for m in messages]
    assert all(mi is not False and fp is not False for mi, fp in results), results
    assert sum(fp is True for _, fp in results) >= len(messages) - 2
    assert sum(mi is True for mi, _ in results) >= len(messages) - 4  # all but 401s, indication


def test_client_wrong_password_against_coturn(
    netbench: Callable[[], NetBench], tmp_path: Path
) -> None:
    net = build_turn_net(netbench())
    with coturn(net.srv, tmp_path / "coturn.log"), ns_loops(net.cli.ns) as (cli,):

        async def attempt() -> int:
            async with TurnClient((SRV_IN, 3478), USER, "wrong") as client:
                try:
                    await client.allocate()
                except TurnError as exc:
                    return exc.code
            return 0

        assert cli.run(attempt()) == 401
