"""SDP (RFC 4566) with MS-ICE2 candidates: codec, candidate model, priorities, share builders.

Sans-I/O: no sockets, no clock. See docs/sip.md for the flow.md §4 offer and answer.
"""

from lab.proto.sdp.builders import (
    CandidateSpec,
    IceCredentials,
    build_share_answer,
    build_share_offer,
    build_share_sdp,
    ice_credentials,
    ms_candidates,
    rfc5245_candidates,
    share_media,
)
from lab.proto.sdp.candidate import Candidate
from lab.proto.sdp.codec import (
    Attribute,
    Connection,
    Line,
    MediaDescription,
    Origin,
    SessionDescription,
)
from lab.proto.sdp.errors import ParseError
from lab.proto.sdp.priority import (
    TYPE_PREFERENCE,
    ms_local_preference,
    ms_priority,
    rfc5245_priority,
)

__all__ = [
    "TYPE_PREFERENCE",
    "Attribute",
    "Candidate",
    "CandidateSpec",
    "Connection",
    "IceCredentials",
    "Line",
    "MediaDescription",
    "Origin",
    "ParseError",
    "SessionDescription",
    "build_share_answer",
    "build_share_offer",
    "build_share_sdp",
    "ice_credentials",
    "ms_candidates",
    "ms_local_preference",
    "ms_priority",
    "rfc5245_candidates",
    "rfc5245_priority",
    "share_media",
]
