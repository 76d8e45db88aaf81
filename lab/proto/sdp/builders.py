"""Builders of the application-sharing SDPs of flow.md §4 from gathered transport addresses.

The Skype client (offer, §4.1) lists every address for components 1 and 2 with MS-ICE2
priorities; CMS (answer, §4.2) lists component 1 only with RFC 5245 priorities (local
preference 65535, relay type preference 20). Foundations are numbered in gathering order.
Nothing here is a constant copy of the seed: priorities are computed (:mod:`.priority`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from lab.proto.sdp.candidate import MS_TRANSPORTS, Candidate
from lab.proto.sdp.codec import Attribute, Connection, MediaDescription, Origin, SessionDescription
from lab.proto.sdp.errors import ParseError
from lab.proto.sdp.priority import (
    CMS_RELAY_TYPE_PREFERENCE,
    MAX_LOCAL_PREFERENCE,
    TYPE_PREFERENCE,
    ms_priority,
    rfc5245_priority,
)

SHARE_MEDIA: Final = "applicationsharing"
SHARE_PAYLOAD: Final = "127"
SHARE_RTPMAP: Final = "127 x-data/90000"  # [LAB] flow.md §4.2
CMS_TYPE_PREFERENCE: Final[Mapping[str, int]] = {
    **TYPE_PREFERENCE, "relay": CMS_RELAY_TYPE_PREFERENCE}


@dataclass(frozen=True)
class CandidateSpec:
    """A gathered local transport address, before it becomes one candidate per component."""

    typ: str
    transport: str
    address: str
    port: int
    raddr: str | None = None
    rport: int | None = None


@dataclass(frozen=True)
class IceCredentials:
    """``a=ice-ufrag`` / ``a=ice-pwd`` (RFC 5245 §15.4)."""

    ufrag: str
    pwd: str


def ms_candidates(specs: Sequence[CandidateSpec], components: int = 2) -> list[Candidate]:
    """MS-ICE2 candidates: foundation n+1 for the n-th spec, components 1..``components``."""
    out: list[Candidate] = []
    for index, spec in enumerate(specs):
        direction = MS_TRANSPORTS.get(spec.transport)
        if direction is None:
            raise ValueError(f"MS-ICE2 needs TCP-PASS or TCP-ACT, not {spec.transport}")
        for comp in range(1, components + 1):
            prio = ms_priority(spec.typ, direction, index, comp)
            out.append(_candidate(spec, index, comp, prio))
    return out


def rfc5245_candidates(
    specs: Sequence[CandidateSpec],
    components: int = 1,
    type_preference: Mapping[str, int] = CMS_TYPE_PREFERENCE,
    local_preference: int = MAX_LOCAL_PREFERENCE,
) -> list[Candidate]:
    """RFC 5245 §4.1.2 candidates with one local preference for all (CMS style, flow.md §4.2)."""
    return [
        _candidate(spec, index, comp,
                   rfc5245_priority(type_preference[spec.typ], local_preference, comp))
        for index, spec in enumerate(specs)
        for comp in range(1, components + 1)
    ]


def _candidate(spec: CandidateSpec, index: int, comp: int, prio: int) -> Candidate:
    return Candidate(str(index + 1), comp, spec.transport, prio, spec.address, spec.port,
                     spec.typ, spec.raddr, spec.rport)


def build_share_sdp(
    candidates: Sequence[Candidate],
    *,
    ice: IceCredentials,
    role: str,
    proto: str,
    default: Candidate,
    origin: Origin,
    session_id: int = 1,
    setup: str | None = None,
) -> SessionDescription:
    """One ``m=applicationsharing`` session, lines in the order of flow.md §4."""
    attrs = [Attribute("candidate", str(c)) for c in candidates]
    attrs += [
        Attribute("x-applicationsharing-role", role),
        Attribute("x-applicationsharing-media-type", "rdp"),
        Attribute("x-applicationsharing-session-id", str(session_id)),
    ]
    if setup is not None:
        attrs.append(Attribute("setup", setup))
    attrs += [Attribute("ice-ufrag", ice.ufrag), Attribute("ice-pwd", ice.pwd),
              Attribute("rtpmap", SHARE_RTPMAP)]
    media = MediaDescription(SHARE_MEDIA, default.port, proto, (SHARE_PAYLOAD,),
                             Connection(default.address), attributes=tuple(attrs))
    return SessionDescription(origin=origin, media=(media,))


def build_share_offer(
    specs: Sequence[CandidateSpec], *, ice: IceCredentials, origin: Origin, session_id: int = 1,
) -> SessionDescription:
    """The Skype client's offer (flow.md §4.1); default candidate: the active relay."""
    cands = ms_candidates(specs)
    default = _pick(cands, "relay", "active")
    return build_share_sdp(cands, ice=ice, role="sharer", proto="TCP/RTP/AVP", default=default,
                           origin=origin, session_id=session_id)


def build_share_answer(
    specs: Sequence[CandidateSpec], *, ice: IceCredentials, origin: Origin, session_id: int = 1,
) -> SessionDescription:
    """CMS's answer (flow.md §4.2); default candidate: the host address."""
    cands = rfc5245_candidates(specs)
    default = _pick(cands, "host", "passive")
    return build_share_sdp(cands, ice=ice, role="viewer", proto="TCP/RTP/SAVP", default=default,
                           origin=origin, session_id=session_id, setup="passive")


def _pick(cands: Sequence[Candidate], typ: str, direction: str) -> Candidate:
    comp1 = [c for c in cands if c.component == 1]
    if not comp1:
        raise ValueError("no component-1 candidate to put in the m= line")
    for c in comp1:
        if c.typ == typ and c.direction == direction:
            return c
    return max(comp1, key=lambda c: c.priority)


def share_media(sd: SessionDescription) -> MediaDescription:
    """The ``m=applicationsharing`` section of a received SDP."""
    for m in sd.media:
        if m.media == SHARE_MEDIA:
            return m
    raise ParseError("no m=applicationsharing section")


def ice_credentials(
    media: MediaDescription, sd: SessionDescription | None = None
) -> IceCredentials:
    """ICE ufrag/pwd of a media section, falling back to the session level (RFC 5245 §15.4)."""
    def find(name: str) -> str | None:
        value = media.get(name)
        if value is None and sd is not None:
            value = next((a.value for a in sd.attributes if a.name == name), None)
        return value

    ufrag, pwd = find("ice-ufrag"), find("ice-pwd")
    if not ufrag or not pwd:
        raise ParseError("media section without a=ice-ufrag / a=ice-pwd")
    return IceCredentials(ufrag, pwd)
