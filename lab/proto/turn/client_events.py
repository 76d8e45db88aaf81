"""What the sans-I/O TURN client core hands out: one action, :class:`SendToServer` (bytes to
write to the server), and the events that follow from what the server sent (a command's result,
carrying the command's handle even after a 401/438 retry, or an indication).

The adapter (``lab.aio.turn_client``) drains ``TurnClientCore.actions()`` after every call into
the core and handles them in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.proto.addr import Addr
from lab.proto.stun import Message, Method

#: The channel of the control connection; any other channel name is an RFC 6062 data connection.
CONTROL = "control"


@dataclass(frozen=True)
class SendToServer:
    """Bytes to write to the server on ``channel`` (:data:`CONTROL` or a data connection's
    name): a request, or a Send indication."""

    channel: str
    data: bytes
    message: Message


@dataclass(frozen=True)
class Allocated:
    handle: int
    relayed: Addr
    mapped: Addr | None
    lifetime: int


@dataclass(frozen=True)
class Refreshed:
    handle: int
    lifetime: int


@dataclass(frozen=True)
class PermissionCreated:
    handle: int
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class PeerConnected:
    """Connect succeeded (RFC 6062 §4.3): bind ``connection_id`` on a new connection."""

    handle: int
    peer: Addr
    connection_id: int


@dataclass(frozen=True)
class Bound:
    """ConnectionBind succeeded (RFC 6062 §4.3): the data connection is now raw."""

    handle: int
    connection_id: int


@dataclass(frozen=True)
class ChannelBound:
    """ChannelBind succeeded (RFC 8656 §11.3): ``number`` now carries ChannelData for
    ``peer``."""

    handle: int
    number: int
    peer: Addr


@dataclass(frozen=True)
class Failed:
    """A command failed: ``code`` is the STUN error code, 0 for a local failure (timeout,
    bad response)."""

    handle: int
    method: Method
    code: int
    reason: str


@dataclass(frozen=True)
class ConnectionAttempt:
    """A peer connected to the relayed address (RFC 6062 §4.4)."""

    connection_id: int
    peer: Addr


@dataclass(frozen=True)
class DataReceived:
    """A Data indication on a UDP allocation (RFC 8656 §11.4)."""

    peer: Addr
    data: bytes


#: What happened: a command's result (carrying its handle) or the server's indication.
Event = (
    Allocated | Refreshed | PermissionCreated | PeerConnected | Bound | ChannelBound | Failed
    | ConnectionAttempt | DataReceived
)

#: What :meth:`~lab.proto.turn.client.TurnClientCore.actions` hands out: bytes to send, events.
Action = SendToServer | Event
