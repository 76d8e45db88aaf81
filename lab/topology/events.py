"""The events the node daemons report, one vocabulary per role: what a scenario's fault may
wait for (``at: cms:answered``) and what the daemons emit (``daemon.events.reach(...)``).

A daemon reports an event when it reaches a point of the call (its control socket's ``wait``
answers with it); :data:`lab.topology.roles.ROLES` gives each role its vocabulary. Every
daemon may also report :attr:`DaemonEvent.FAILED` (one of its tasks failed).
"""

from __future__ import annotations

from enum import StrEnum


class DaemonEvent(StrEnum):
    """Any daemon."""

    FAILED = "failed"  #: one of the daemon's tasks failed (the reason is the detail)


class CallEvent(StrEnum):
    """Both ends of the share's media (Skype client and CMS)."""

    MEDIA = "media"  #: the media endpoint runs on the selected ICE stream
    MEDIA_RECEIVED = "media-received"  #: the first media frame arrived


class SfbClientEvent(StrEnum):
    """The Skype for Business client, sharer and caller."""

    GATHERED = "gathered"  #: its ICE candidates are gathered (host, TURN relays)
    INVITE = "invite"  #: the INVITE is sent
    ANSWERED = "answered"  #: the 200 OK arrived
    ICE = "ice"  #: a candidate pair succeeded
    REINVITED = "reinvited"  #: the re-INVITE with the selected pair is answered
    ENDED = "ended"  #: the call is over (BYE)


class CmsEvent(StrEnum):
    """The Meeting Server, callee."""

    INVITE = "invite"  #: the INVITE arrived
    ALLOCATED = "allocated"  #: its TURN allocation on Expressway-E succeeded
    TURN_FAILED = "turn-failed"  #: the allocation failed
    REJECTED = "rejected"  #: it rejected the call (the status is the detail)
    ANSWERED = "answered"  #: it sent its 200 OK
    ICE = "ice"  #: a candidate pair succeeded
    REINVITE = "reinvite"  #: the re-INVITE arrived
    BIND_WITHHELD = "bind-withheld"  #: a ConnectionAttempt it was told not to bind
    ENDED = "ended"  #: the call is over


class ExpresswayCEvent(StrEnum):
    """Expressway-C, the traversal zone's client."""

    ZONE_UP = "zone-up"  #: the traversal zone to Expressway-E is connected
    ZONE_DOWN = "zone-down"  #: the zone could not be connected


def names(*vocabularies: type[StrEnum]) -> tuple[str, ...]:
    """The event names of ``vocabularies``, in order, each once."""
    out: dict[str, None] = {}
    for vocabulary in vocabularies:
        out.update((str(e), None) for e in vocabulary)
    return tuple(out)
