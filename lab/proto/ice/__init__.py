"""ICE for TCP candidates, sans-I/O (RFC 5245, RFC 6544, MS-ICE2): pairs, checks, the agent.

    agent = IceAgent(controlling=True, local_ufrag=u, local_pwd=p, local_candidates=cands,
                     config=IceConfig(ms_ice2=True))
    agent.set_remote(r_ufrag, r_pwd, remote_cands, now)
    agent.handle_timer(now); actions = agent.actions()   # Connect / SendStun / Close / Selected
    agent.connected(conn, now); agent.frame_received(conn, stun_bytes, now)

The asyncio adapter that performs the actions is :mod:`lab.aio.ice`.
"""

from lab.proto.ice.agent import AgentState, IceAgent, IceConfig
from lab.proto.ice.checks import (
    MS_IMPLEMENTATION_VERSION,
    CheckError,
    InboundCheck,
    binding_request,
    check_priority,
    foundation_id,
    new_tie_breaker,
    new_ufrag_pwd,
    parse_check_message,
    success_response,
    verify_request,
)
from lab.proto.ice.events import Action, Close, Connect, Failed, PairReport, Selected, SendStun
from lab.proto.ice.pairs import (
    CandidatePair,
    PairState,
    can_pair,
    candidate_base,
    form_check_list,
    label,
    pair_priority,
)

__all__ = [
    "MS_IMPLEMENTATION_VERSION",
    "Action",
    "AgentState",
    "CandidatePair",
    "CheckError",
    "Close",
    "Connect",
    "Failed",
    "IceAgent",
    "IceConfig",
    "InboundCheck",
    "PairReport",
    "PairState",
    "Selected",
    "SendStun",
    "binding_request",
    "can_pair",
    "candidate_base",
    "check_priority",
    "form_check_list",
    "foundation_id",
    "label",
    "new_tie_breaker",
    "new_ufrag_pwd",
    "pair_priority",
    "parse_check_message",
    "success_response",
    "verify_request",
]
