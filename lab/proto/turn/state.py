"""The TURN server's state and the actions its core asks the adapter to perform.

Actions are plain data (h11 style): the sans-I/O core queues them, the asyncio adapter drains
them with ``TurnServerCore.actions()``, carries them out in order and reports results back
(``relay_result``, ``peer_connect_result``...). Two actions send bytes, one per direction:
:class:`SendToClient` on a client connection, :class:`SendToPeer` from a UDP relayed address.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from lab.proto.addr import Addr
from lab.proto.stun import Message

# --- actions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendToClient:
    """Write ``data`` (one STUN message, or a ChannelData frame) on client connection
    ``conn``."""

    conn: int
    data: bytes
    message: Message | None  # None: ChannelData


@dataclass(frozen=True)
class CloseConnection:
    """Close client connection ``conn``."""

    conn: int
    reason: str


@dataclass(frozen=True)
class OpenRelay:
    """Bind the relayed address of allocation ``alloc`` (TCP: listen; UDP: a datagram socket)
    and report with ``relay_result``."""

    alloc: int
    addr: Addr
    transport: int


@dataclass(frozen=True)
class CloseRelay:
    alloc: int


@dataclass(frozen=True)
class ConnectPeer:
    """Open TCP connection ``cid`` to ``peer`` *from* ``relayed`` (RFC 6062 §5.2) and report
    with ``peer_connect_result``."""

    cid: int
    relayed: Addr
    peer: Addr


@dataclass(frozen=True)
class ClosePeer:
    """Close peer connection ``cid`` (and its bridge, if bound)."""

    cid: int
    reason: str


@dataclass(frozen=True)
class StartBridge:
    """ConnectionBind succeeded: after the response already queued on ``conn``, relay bytes
    raw between client data connection ``conn`` and peer connection ``cid`` (RFC 6062 §5.5)."""

    conn: int
    cid: int


@dataclass(frozen=True)
class SendToPeer:
    """Send ``data`` from the UDP relayed address of ``alloc`` to ``peer`` (RFC 8656 §10.2)."""

    alloc: int
    peer: Addr
    data: bytes


Action = (
    SendToClient | CloseConnection | OpenRelay | CloseRelay | ConnectPeer | ClosePeer
    | StartBridge | SendToPeer
)


# --- state ---------------------------------------------------------------------------------


class PeerState(enum.Enum):
    CONNECTING = "connecting"  # Connect sent, the relay is connecting to the peer
    AWAITING_BIND = "awaiting bind"  # peer connected, waiting for ConnectionBind (30 s)
    BOUND = "bound"  # bridged to a client data connection


@dataclass
class PeerConnection:
    """One RFC 6062 peer data connection (RFC 6062 §5.2, §5.3)."""

    cid: int
    alloc: int
    peer: Addr
    state: PeerState
    deadline: float | None
    connect_request: Message | None = None  # the Connect to answer when connecting ends
    client_conn: int | None = None


@dataclass
class Allocation:
    """One allocation (RFC 8656 §5) on one control connection."""

    key: int
    conn: int
    username: str
    hmac_key: bytes
    transport: int
    relayed: Addr
    mapped: Addr
    expires: float
    request: Message | None = None  # the Allocate to answer once the relay is bound
    fingerprint: bool = False
    ready: bool = False
    permissions: dict[str, float] = field(default_factory=dict)  # peer IP -> expiry
    connections: set[int] = field(default_factory=set)
    tried_ports: set[int] = field(default_factory=set)
    channels: dict[int, tuple[Addr, float]] = field(default_factory=dict)  # -> (peer, expiry)
    answer: SendToClient | None = None  # the Allocate's success, for its retransmission (UDP)

    def permitted(self, host: str, now: float) -> bool:
        return self.permissions.get(host, -1.0) > now

    def channel_of(self, peer: Addr, now: float) -> int | None:
        """The live channel bound to ``peer`` (RFC 8656 §12), if any."""
        return next((n for n, (p, expiry) in self.channels.items() if p == peer and expiry > now),
                    None)

    def channel_peer(self, number: int, now: float) -> Addr | None:
        bound = self.channels.get(number)
        return bound[0] if bound is not None and bound[1] > now else None


@dataclass
class ClientConnection:
    """A TCP connection from a client: control, data (after ConnectionBind) or not yet known."""

    conn: int
    client: Addr
    server: Addr
    idle_deadline: float | None = None  # closed then unless it allocated or bound
    alloc: int | None = None
    data_for: int | None = None  # peer connection cid once bound
    refusals: int = 0  # error responses since the last success (a budget, see max_refusals)
