"""Candidate pairs and the check list for TCP candidates (RFC 5245 §5.7, RFC 6544 §6.2).

* Pairing (RFC 6544 §6.2): a local *active* candidate pairs with a remote *passive* one, a local
  passive with a remote active, S-O with S-O; same component, same address family.
* Pair priority (RFC 5245 §5.7.2): ``2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0)`` where G is the
  controlling agent's candidate priority and D the controlled agent's.
* Pruning (RFC 5245 §5.7.3 + RFC 6544 §6.2): a server-reflexive local candidate is replaced by
  its base; pairs whose local candidate is passive are removed (checks arrive on them, they never
  send); of pairs with the same local base and remote candidate only the highest stays. The base
  of an *active* candidate is compared without its port, since an active candidate's port is not
  where connections come from (RFC 6544 §4.5 writes it as 9).
* Initial states (RFC 5245 §5.7.4): per foundation, the pair with the lowest component id and
  highest priority is Waiting, the others Frozen.

Pruned pairs are kept, with the reason, so that reports show every combination and why it was or
was not checked.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lab.proto.addr import Addr
from lab.proto.sdp import Candidate


class PairState(enum.Enum):
    """RFC 5245 §5.7.4 pair states."""

    FROZEN = "frozen"
    WAITING = "waiting"
    IN_PROGRESS = "in-progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def pair_priority(controlling: int, controlled: int) -> int:
    """RFC 5245 §5.7.2 pair priority from the two candidates' priorities (G, D)."""
    g, d = controlling, controlled
    return (1 << 32) * min(g, d) + 2 * max(g, d) + (1 if g > d else 0)


def candidate_base(c: Candidate) -> Addr:
    """The base of a local candidate (RFC 5245 §4.1.1.1): a server-reflexive candidate's base is
    its related (host) address; a host or relayed candidate is its own base."""
    if c.typ == "srflx" and c.raddr is not None and c.rport is not None:
        return (c.raddr, c.rport)
    return (c.address, c.port)


def label(c: Candidate) -> str:
    """``relay TCP-ACT 192.168.1.252:51577``: how logs and reports name a candidate."""
    direction = c.direction or c.transport
    token = {"active": "TCP-ACT", "passive": "TCP-PASS", "so": "TCP-SO"}.get(direction, direction)
    return f"{c.typ} {token} {c.address}:{c.port}"


_PARTNER = {"active": "passive", "passive": "active", "so": "so"}


def can_pair(local: Candidate, remote: Candidate) -> bool:
    """RFC 6544 §6.2: same component, TCP both, complementary directions, same IP family."""
    if local.component != remote.component or not (local.is_tcp and remote.is_tcp):
        return False
    ld, rd = local.direction, remote.direction
    if ld is None or rd is None or _PARTNER.get(ld) != rd:
        return False
    return _family(local.address) == _family(remote.address)


def _family(address: str) -> int:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return 0


@dataclass(eq=False)
class CandidatePair:
    """One pair in the check list, with its check state (RFC 5245 §5.7.4).

    ``failure`` holds the real reason of a failed pair (no route, refused, timeout, TURN error);
    ``pruned`` the reason a pair is not checked at all.
    """

    id: int
    local: Candidate
    remote: Candidate
    priority: int
    state: PairState = PairState.FROZEN
    failure: str | None = None
    pruned: str | None = None
    nominated: bool = False
    peer_nominated: bool = False
    inbound_ok: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def foundation(self) -> str:
        """Pair foundation: the two candidate foundations joined (RFC 5245 §5.7.4)."""
        return f"{self.local.foundation}:{self.remote.foundation}"

    @property
    def local_active(self) -> bool:
        return self.local.direction in ("active", "so")

    def describe(self) -> str:
        return f"{label(self.local)} -> {label(self.remote)}"

    def fail(self, reason: str) -> None:
        self.state = PairState.FAILED
        self.failure = reason


_Key = tuple[int, str, int, str, int, str]


def _redundancy_key(pair: CandidatePair) -> _Key:
    host, port = candidate_base(pair.local)
    if pair.local.direction == "active":
        port = 0
    remote = pair.remote
    return (pair.local.component, host, port, remote.address, remote.port,
            pair.local.direction or "")


def form_check_list(
    local: Sequence[Candidate], remote: Sequence[Candidate], *, controlling: bool,
    first_id: int = 1,
) -> list[CandidatePair]:
    """Every pairable combination, ordered by pair priority (highest first), pruned and with
    initial states set. The pruned pairs stay in the list with ``pruned`` set."""
    pairs: list[CandidatePair] = []
    for lc in local:
        for rc in remote:
            if not can_pair(lc, rc):
                continue
            g, d = (lc.priority, rc.priority) if controlling else (rc.priority, lc.priority)
            pairs.append(CandidatePair(0, lc, rc, pair_priority(g, d)))
    pairs.sort(key=lambda p: p.priority, reverse=True)
    for i, pair in enumerate(pairs):
        pair.id = first_id + i
    prune(pairs)
    set_initial_states(pairs)
    return pairs


def prune(pairs: Iterable[CandidatePair]) -> None:
    """Mark pairs that are not checked (RFC 5245 §5.7.3, RFC 6544 §6.2); ``pairs`` is sorted."""
    kept: dict[_Key, CandidatePair] = {}
    for pair in pairs:
        if pair.local.direction == "passive":
            pair.pruned = "local passive candidate: the peer's checks arrive on it (RFC 6544 §6.2)"
            continue
        key = _redundancy_key(pair)
        first = kept.get(key)
        if first is not None:
            pair.pruned = (f"redundant with pair #{first.id} (same base {first.local.address}, "
                           "same remote; RFC 5245 §5.7.3)")
            continue
        kept[key] = pair


def set_initial_states(pairs: Sequence[CandidatePair]) -> None:
    """RFC 5245 §5.7.4: one Waiting pair per foundation (lowest component, highest priority)."""
    best: dict[str, CandidatePair] = {}
    for pair in pairs:
        if pair.pruned is not None:
            continue
        pair.state = PairState.FROZEN
        cur = best.get(pair.foundation)
        if cur is None or (pair.local.component, -pair.priority) < (
                cur.local.component, -cur.priority):
            best[pair.foundation] = pair
    for pair in best.values():
        pair.state = PairState.WAITING


def unfreeze_foundation(pairs: Iterable[CandidatePair], foundation: str) -> None:
    """RFC 5245 §7.1.3.2.3: a success unfreezes the Frozen pairs of the same foundation."""
    for pair in pairs:
        if pair.pruned is None and pair.state is PairState.FROZEN and pair.foundation == foundation:
            pair.state = PairState.WAITING
