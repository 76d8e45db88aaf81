"""What the sans-I/O ICE agent asks its adapter to do, and what it reports.

The adapter (``lab.aio.ice``) drains :meth:`IceAgent.actions` after every call and performs them:
open a TCP connection for a pair (directly from a host address, or as a TURN Connect on an
allocation), send one STUN message on a connection (framed per RFC 4571), close a connection.
:class:`Selected` and :class:`Failed` end the checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.proto.ice.pairs import CandidatePair, PairState, label


@dataclass(frozen=True)
class Connect:
    """Open the TCP connection of an active check from ``pair.local`` to ``pair.remote``."""

    conn: int
    pair: CandidatePair


@dataclass(frozen=True)
class SendStun:
    """Send one STUN message (unframed) on a connection; ``what`` names it for logs."""

    conn: int
    data: bytes
    what: str


@dataclass(frozen=True)
class Close:
    """Close a connection that ICE no longer needs."""

    conn: int
    reason: str


@dataclass(frozen=True)
class Selected:
    """ICE completed: ``pair`` is selected and connection ``conn`` carries the media."""

    pair: CandidatePair
    conn: int


@dataclass(frozen=True)
class Failed:
    """ICE failed: no pair can be selected."""

    reason: str


Action = Connect | SendStun | Close | Selected | Failed


@dataclass(frozen=True)
class PairReport:
    """One line of the check-list report: what was tried and what became of it."""

    id: int
    local: str
    remote: str
    priority: int
    state: str
    reason: str | None
    nominated: bool

    @classmethod
    def of(cls, pair: CandidatePair) -> PairReport:
        state = "pruned" if pair.pruned is not None else pair.state.value
        reason = pair.pruned if pair.pruned is not None else pair.failure
        nominated = pair.nominated or pair.peer_nominated
        return cls(pair.id, label(pair.local), label(pair.remote), pair.priority, state, reason,
                   nominated and pair.state is PairState.SUCCEEDED)

    def __str__(self) -> str:
        text = f"#{self.id} {self.local} -> {self.remote}: {self.state}"
        if self.nominated:
            text += " (nominated)"
        return f"{text}: {self.reason}" if self.reason else text
