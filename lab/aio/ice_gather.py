"""ICE gathering for TCP candidates: what is behind each local candidate (RFC 5245 §4.1.1,
RFC 6544 §5, RFC 6062 §4.1).

:class:`IceGatherer` opens host listeners, reserves host active ports, allocates TCP relays on
TURN servers (:class:`lab.aio.turn_client.TurnClient`) and records the server-reflexive address a
TURN server saw (its XOR-MAPPED-ADDRESS). It returns ``CandidateSpec`` values for the SDP builders
of :mod:`lab.proto.sdp`, in gathering order, and keeps the sockets and allocations behind them for
:class:`lab.aio.ice.IceSession`, which closes them.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from dataclasses import dataclass, field

from lab.aio.turn_client import TurnClient, TurnError
from lab.aio.turn_io import addr_of, tcp_socket
from lab.base.errors import LabError
from lab.proto.addr import Addr
from lab.proto.sdp import Candidate, CandidateSpec

log = logging.getLogger(__name__)


@dataclass
class RelayHandle:
    """One TURN allocation gathered as a relayed candidate."""

    client: TurnClient
    relayed: Addr
    mapped: Addr | None
    control_local: Addr


@dataclass
class _Resource:
    """What is behind one local candidate (address, port, direction)."""

    kind: str  # "listen", "active", "relay-passive", "relay-active"
    local: Addr | None = None  # bind address of host active connects
    listener: socket.socket | None = None
    relay: RelayHandle | None = None


def _key(address: str, port: int, direction: str | None) -> tuple[str, int, str]:
    return (address, port, direction or "")


def key_of(cand: Candidate) -> tuple[str, int, str]:
    """The resource key of a local candidate: address, port, TCP direction."""
    return _key(cand.address, cand.port, cand.direction)


@dataclass
class IceGatherer:
    """Local candidates and the resources behind them, in gathering order (RFC 5245 §4.1.1)."""

    specs: list[CandidateSpec] = field(default_factory=list)
    resources: dict[tuple[str, int, str], _Resource] = field(default_factory=dict)
    relays: list[RelayHandle] = field(default_factory=list)

    async def host_passive(self, ip: str, port: int) -> CandidateSpec:
        """Listen on ``ip:port`` (a host TCP-PASS candidate)."""
        sock = tcp_socket((ip, port))
        sock.listen(16)
        bound = addr_of(sock.getsockname())
        return self._add(CandidateSpec("host", "TCP-PASS", bound[0], bound[1]),
                         _Resource("listen", listener=sock))

    def host_active(self, ip: str, port: int) -> CandidateSpec:
        """Connect from ``ip:port`` (a host TCP-ACT candidate; MS-ICE2 gives it a real port)."""
        if port == 0:
            probe = tcp_socket((ip, 0))
            port = addr_of(probe.getsockname())[1]
            probe.close()
        return self._add(CandidateSpec("host", "TCP-ACT", ip, port),
                         _Resource("active", local=(ip, port)))

    async def allocate(self, client: TurnClient) -> RelayHandle:
        """Open ``client`` and allocate a TCP relay (RFC 6062 §4.1); the gatherer owns it."""
        await client.open()
        self.relays.append(RelayHandle(client, ("", 0), None, client.control_local))
        alloc = await client.allocate()
        handle = self.relays[-1]
        handle.relayed, handle.mapped = alloc.relayed, alloc.mapped
        log.info("TURN %s:%d: relayed %s:%d, mapped %s", *client.server, *alloc.relayed,
                 alloc.mapped)
        return handle

    async def relay_passive(self, client: TurnClient) -> RelayHandle:
        """A relayed TCP-PASS candidate: peers connect to the relayed address."""
        handle = await self.allocate(client)
        self._add(self._relay_spec(handle, "TCP-PASS"), _Resource("relay-passive", relay=handle))
        return handle

    async def relay_active(self, client: TurnClient, *, connect_via: RelayHandle | None = None
                           ) -> RelayHandle:
        """A relayed TCP-ACT candidate. Its checks are TURN Connects issued on ``connect_via``
        (default: this very allocation). The seed's Edge connects from its *passive* relayed
        address, so the lab passes that allocation here (docs/ice-media.md)."""
        handle = await self.allocate(client)
        via = connect_via or handle
        self._add(self._relay_spec(handle, "TCP-ACT"), _Resource("relay-active", relay=via))
        return handle

    def srflx_active(self, relay: RelayHandle) -> CandidateSpec | None:
        """The server-reflexive TCP-ACT candidate: the address the TURN server saw the control
        connection come from (XOR-MAPPED-ADDRESS), based on the control connection's local
        address. None when the server reported no mapped address or no NAT was crossed."""
        if relay.mapped is None or relay.mapped == relay.control_local:
            return None
        base = relay.control_local
        return self._add(CandidateSpec("srflx", "TCP-ACT", relay.mapped[0], relay.mapped[1],
                                       base[0], base[1]), _Resource("active", local=base))

    @staticmethod
    def _relay_spec(handle: RelayHandle, transport: str) -> CandidateSpec:
        raddr = handle.mapped or handle.control_local
        return CandidateSpec("relay", transport, handle.relayed[0], handle.relayed[1],
                             raddr[0], raddr[1])

    def _add(self, spec: CandidateSpec, res: _Resource) -> CandidateSpec:
        direction = "passive" if spec.transport == "TCP-PASS" else "active"
        self.specs.append(spec)
        self.resources[_key(spec.address, spec.port, direction)] = res
        return spec

    def resource(self, cand: Candidate) -> _Resource:
        res = self.resources.get(_key(cand.address, cand.port, cand.direction))
        if res is None:
            raise LabError(f"no gathered resource behind local candidate {cand}")
        return res

    async def close(self) -> None:
        for res in self.resources.values():
            if res.listener is not None:
                res.listener.close()
        for relay in self.relays:
            with contextlib.suppress(TurnError, OSError):
                await relay.client.close()
        self.resources.clear()
        self.relays.clear()
