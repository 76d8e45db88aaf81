"""The ICE agent for TCP candidates, sans-I/O (RFC 5245 §7-§8, RFC 6544 §7, MS-ICE2 §3.1.4).

Time is an argument: :meth:`IceAgent.handle_timer` at :meth:`IceAgent.next_deadline`. Bytes and
connections are events in (``connected``, ``connect_failed``, ``incoming``, ``frame_received``,
``connection_lost``) and actions out (:mod:`lab.proto.ice.events`).

Behaviour, with the RFC sections:

* ordinary checks start one per ``ta`` seconds, highest pair priority first (RFC 5245 §5.8);
  each opens its own TCP connection (RFC 6544 §7.1) and sends one Binding request on it;
* the controlling agent nominates aggressively: USE-CANDIDATE in every check (§8.1.1.2), so one
  request and one success in each direction select the pair, as the tech note shows; with
  ``aggressive=False`` it nominates regularly: a second check with USE-CANDIDATE on the first
  valid pair (§8.1.1.1);
* a request received on a connection is answered on it, then a triggered check goes back on the
  *same* connection (RFC 6544 §7.2, RFC 5245 §7.2.1.4);
* role conflicts are resolved by tie-breaker (§7.2.1.1) and by 487 responses (§7.1.3.1);
* with ``bidirectional`` (MS-ICE2 behaviour described by the tech note: "Bidirectional Binding
  Requests and Binding Success Responses are required for this candidate pair to be considered
  valid") the controlling agent selects a pair only once it has also answered the peer's check;
* every failed pair keeps its real reason (the adapter's "no route"/"refused"/TURN error, or a
  timeout measured here).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lab.proto.addr import Addr
from lab.proto.ice.checks import (
    CheckError,
    InboundCheck,
    binding_request,
    error_response,
    new_tie_breaker,
    parse_check_message,
    success_response,
    verify_request,
    verify_response,
)
from lab.proto.ice.events import Action, Close, Connect, Failed, PairReport, Selected, SendStun
from lab.proto.ice.pairs import (
    CandidatePair,
    PairState,
    form_check_list,
    pair_priority,
    unfreeze_foundation,
)
from lab.proto.sdp import Candidate
from lab.proto.stun import Message, MessageClass, XorMappedAddress, new_transaction_id

log = logging.getLogger(__name__)


class AgentState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


MIN_CONNECT = 2.0  # seconds: the floor of a scaled connect timeout


@dataclass(frozen=True)
class IceConfig:
    """Timers and conventions ([LAB] values, see docs/ice-media.md)."""

    ta: float = 0.02  # pacing of ordinary checks (RFC 5245 §16.1: 20 ms at the least)
    connect_timeout: float = 5.0  # a TCP connect (or TURN Connect) left unanswered
    # a Binding request left unanswered on an open connection: Ti, RFC 5389 §7.2.2 (reliable
    # transports); longer than Expressway-E's 30 s ConnectionBind timer, which thus acts first
    check_timeout: float = 39.5
    overall_timeout: float = 45.0  # ICE gives up (longer than any one check)
    ms_ice2: bool = False  # add IMPLEMENTATION-VERSION / CANDIDATE-IDENTIFIER (MS-ICE2 §2.2.2)
    bidirectional: bool = True
    aggressive: bool = True

    def scaled(self, time_scale: float) -> IceConfig:
        """The same conventions with the long timers (connect, check, overall) multiplied by
        ``time_scale`` (a scenario's faster clock); the pacing ``ta`` stays as it is, and the
        connect timeout never goes below :data:`MIN_CONNECT` (a TURN Connect through a loaded
        machine must not fail for want of time)."""
        connect = max(self.connect_timeout * time_scale, min(self.connect_timeout, MIN_CONNECT))
        return dataclasses.replace(self, connect_timeout=connect,
                                   check_timeout=self.check_timeout * time_scale,
                                   overall_timeout=self.overall_timeout * time_scale)


@dataclass
class _Conn:
    id: int
    local: Candidate
    remote_addr: Addr
    pair: CandidatePair | None
    outgoing: bool
    open: bool = False
    deadline: float | None = None
    txn: bytes | None = None
    txn_nominating: bool = False
    nominate_next: bool = False
    triggered: bool = False


class IceAgent:
    """One ICE agent (one media stream, TCP candidates)."""

    def __init__(
        self, *, controlling: bool, local_ufrag: str, local_pwd: str,
        local_candidates: Sequence[Candidate], config: IceConfig | None = None,
        tie_breaker: int | None = None, transaction_id: Callable[[], bytes] = new_transaction_id,
    ) -> None:
        self.controlling = controlling
        self.local_ufrag, self.local_pwd = local_ufrag, local_pwd
        self.local_candidates = list(local_candidates)
        self.config = config or IceConfig()
        self.tie_breaker = new_tie_breaker() if tie_breaker is None else tie_breaker
        self._txid = transaction_id
        self.remote_ufrag: str | None = None
        self.remote_pwd: str | None = None
        self.remote_candidates: list[Candidate] = []
        self.pairs: list[CandidatePair] = []
        self.state = AgentState.NEW
        self.selected: tuple[CandidatePair, int] | None = None
        self.failure: str | None = None
        self._conns: dict[int, _Conn] = {}
        self._next_id = 1
        self._next_tick: float | None = None
        self._last_tick: float | None = None
        self._give_up: float | None = None
        self._actions: list[Action] = []

    # --- set-up --------------------------------------------------------------------------

    def set_remote(self, ufrag: str, pwd: str, candidates: Sequence[Candidate], now: float) -> None:
        """The peer's credentials and candidates (from its SDP): form the check list, start.

        A second call with the same credentials (the re-INVITE after ICE, RFC 5245 §9.1.3) is
        ignored; different credentials would be an ICE restart, which this agent does not do.
        """
        if self.remote_pwd is not None:
            if (ufrag, pwd) != (self.remote_ufrag, self.remote_pwd):
                raise ValueError("ICE restart (new remote credentials) is not supported")
            log.debug("remote candidates again with the same credentials: ignored")
            return
        self.remote_ufrag, self.remote_pwd = ufrag, pwd
        self.remote_candidates = list(candidates)
        self.pairs = form_check_list(self.local_candidates, self.remote_candidates,
                                     controlling=self.controlling, first_id=1)
        self._next_id = len(self.pairs) + 1
        if self.state is AgentState.NEW:
            self.state = AgentState.RUNNING
            self._give_up = now + self.config.overall_timeout
        self._next_tick = now
        log.debug("check list: %s", [str(r) for r in self.report()])

    def actions(self) -> list[Action]:
        """Drain the actions produced since the last call, in order."""
        out, self._actions = self._actions, []
        return out

    def report(self) -> list[PairReport]:
        return [PairReport.of(p) for p in sorted(self.pairs, key=lambda p: -p.priority)]

    @property
    def done(self) -> bool:
        return self.state in (AgentState.COMPLETED, AgentState.FAILED)

    # --- time ----------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None if nothing is pending."""
        if self.done:
            return None
        times = [c.deadline for c in self._conns.values() if c.deadline is not None]
        if self._next_tick is not None and self._has_work():
            times.append(self._next_tick)
        if self._give_up is not None:
            times.append(self._give_up)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Expire timers and pace checks (RFC 5245 §5.8)."""
        if self.done:
            return
        if self._give_up is not None and now >= self._give_up:
            self._fail(f"no pair selected within {self.config.overall_timeout:g} s", now)
            return
        for conn in list(self._conns.values()):
            if conn.deadline is not None and now >= conn.deadline:
                self._expire(conn)
        tick = self._next_tick is not None and now >= self._next_tick and bool(self.remote_pwd)
        if tick:
            if self._pace(now):
                self._last_tick = now
                self._next_tick = now + self.config.ta
            else:  # nothing to send: the pacing timer rests until there is
                self._next_tick = None
        self._check_done(now)

    def _schedule_tick(self, now: float) -> None:
        """Triggered checks go out at the next Ta tick (RFC 5245 §5.8); an agent that has
        sent nothing yet starts its pacing timer now, so the first one leaves Ta later."""
        ta = self.config.ta
        due = now + ta if self._last_tick is None else max(now, self._last_tick + ta)
        if self._next_tick is None or self._next_tick > due:
            self._next_tick = due

    def _has_work(self) -> bool:
        if any(c.triggered and c.open and c.txn is None for c in self._conns.values()):
            return True
        return any(p.pruned is None and p.state in (PairState.WAITING, PairState.FROZEN)
                   for p in self.pairs)

    def _pace(self, now: float) -> bool:
        for conn in self._conns.values():  # the triggered-check queue first (§5.8)
            if conn.triggered and conn.open and conn.txn is None and conn.pair is not None:
                conn.triggered = False
                self._send_check(conn, now)
                return True
        pair = self._next_ordinary()
        if pair is None:
            return False
        pair.state = PairState.IN_PROGRESS
        conn = self._new_conn(pair.local, (pair.remote.address, pair.remote.port), pair, True)
        conn.deadline = now + self.config.connect_timeout
        self._actions.append(Connect(conn.id, pair))
        log.info("check #%d %s: connecting", pair.id, pair.describe())
        return True

    def _next_ordinary(self) -> CandidatePair | None:
        live = [p for p in self.pairs if p.pruned is None and p.local_active]
        waiting = [p for p in live if p.state is PairState.WAITING]
        if not waiting:
            frozen = [p for p in live if p.state is PairState.FROZEN]
            if not frozen:
                return None
            waiting = [max(frozen, key=lambda p: p.priority)]
        return max(waiting, key=lambda p: p.priority)

    def _expire(self, conn: _Conn) -> None:
        what = ("TCP connect" if not conn.open else "Binding request")
        limit = self.config.connect_timeout if not conn.open else self.config.check_timeout
        reason = f"timeout: {what} not answered within {limit:g} s"
        conn.deadline = None
        if conn.pair is not None and conn.pair.state is PairState.IN_PROGRESS:
            conn.pair.fail(reason)
            log.info("check #%d %s failed: %s", conn.pair.id, conn.pair.describe(), reason)
        self._close(conn, reason)

    # --- connection events ----------------------------------------------------------------

    def _new_conn(self, local: Candidate, remote: Addr, pair: CandidatePair | None,
                  outgoing: bool) -> _Conn:
        conn = _Conn(self._next_id, local, remote, pair, outgoing)
        self._next_id += 1
        self._conns[conn.id] = conn
        return conn

    def connected(self, conn_id: int, now: float) -> None:
        """The TCP connection (or TURN Connect + ConnectionBind) of a check is open."""
        conn = self._conns.get(conn_id)
        if conn is None or conn.open:
            return
        conn.open = True
        conn.deadline = None
        if conn.pair is not None and conn.pair.state is PairState.IN_PROGRESS:
            self._send_check(conn, now)

    def connect_failed(self, conn_id: int, reason: str, now: float) -> None:
        """The connection of a check could not be opened; ``reason`` is the real cause."""
        conn = self._conns.pop(conn_id, None)
        if conn is None or conn.pair is None:
            return
        if conn.pair.state is PairState.IN_PROGRESS:
            conn.pair.fail(reason)
            log.info("check #%d %s failed: %s", conn.pair.id, conn.pair.describe(), reason)
        self._check_done(now)

    def incoming(self, local: Candidate, remote_addr: Addr, now: float) -> int:
        """A peer connected to our passive candidate ``local`` from ``remote_addr``."""
        conn = self._new_conn(local, remote_addr, None, False)
        conn.open = True
        if self._give_up is None:
            self._give_up = now + self.config.overall_timeout
            self.state = AgentState.RUNNING
        return conn.id

    def connection_lost(self, conn_id: int, reason: str, now: float) -> None:
        conn = self._conns.pop(conn_id, None)
        if conn is None:
            return
        pair = conn.pair
        if pair is not None and pair.state is PairState.IN_PROGRESS and conn.txn is not None:
            pair.fail(f"connection closed before the Binding response ({reason})")
        self._check_done(now)

    def _close(self, conn: _Conn, reason: str) -> None:
        self._conns.pop(conn.id, None)
        self._actions.append(Close(conn.id, reason))

    # --- STUN on a connection --------------------------------------------------------------

    def frame_received(self, conn_id: int, frame: bytes, now: float) -> None:
        """One RFC 4571 frame holding a STUN message arrived on a connection."""
        conn = self._conns.get(conn_id)
        if conn is None:
            return
        try:
            msg = parse_check_message(frame)
        except CheckError as exc:
            log.info("connection %d: dropped: %s", conn_id, exc.reason)
            return
        if msg.cls is MessageClass.REQUEST:
            self._on_request(conn, frame, msg, now)
        elif msg.cls in (MessageClass.SUCCESS, MessageClass.ERROR):
            self._on_response(conn, frame, msg, now)
        self._check_done(now)

    def _send_check(self, conn: _Conn, now: float) -> None:
        pair = conn.pair
        if pair is None or not self.remote_ufrag or not self.remote_pwd:
            return
        pair.state = PairState.IN_PROGRESS
        nominate = self.controlling and (self.config.aggressive or conn.nominate_next)
        conn.nominate_next = False
        txid = self._txid()
        data = binding_request(
            local_ufrag=self.local_ufrag, remote_ufrag=self.remote_ufrag,
            remote_pwd=self.remote_pwd, local=pair.local, controlling=self.controlling,
            tie_breaker=self.tie_breaker, use_candidate=nominate, ms_ice2=self.config.ms_ice2,
            transaction_id=txid)
        conn.txn, conn.txn_nominating = txid, nominate
        conn.deadline = now + self.config.check_timeout
        self._actions.append(SendStun(conn.id, data, "Binding request"))

    def _on_request(self, conn: _Conn, raw: bytes, msg: Message, now: float) -> None:
        try:
            check = verify_request(raw, msg, local_ufrag=self.local_ufrag,
                                   local_pwd=self.local_pwd)
            self._resolve_role_conflict(check)
        except CheckError as exc:
            if exc.code:
                pwd = self.local_pwd if exc.code not in (400, 401) else None
                self._actions.append(SendStun(conn.id, error_response(
                    msg, exc.code, exc.reason, local_pwd=pwd), f"Binding error {exc.code}"))
            log.info("connection %d: refused a check: %s", conn.id, exc)
            return
        pair = conn.pair or self._pair_for_incoming(conn, check)
        conn.pair = pair
        self._actions.append(SendStun(conn.id, success_response(
            msg, conn.remote_addr, local_pwd=self.local_pwd, ms_ice2=self.config.ms_ice2),
            "Binding success"))
        pair.inbound_ok = True
        if check.use_candidate and not self.controlling:
            pair.peer_nominated = True
        if pair.state is not PairState.SUCCEEDED and conn.txn is None:
            conn.triggered = True  # RFC 5245 §7.2.1.4, on this very connection (RFC 6544 §7.2)
            self._schedule_tick(now)
        self._maybe_select(now)

    def _resolve_role_conflict(self, check: InboundCheck) -> None:
        """RFC 5245 §7.2.1.1: both think they control (or both are controlled)."""
        if check.controlling != self.controlling:
            return
        ours_wins = self.tie_breaker >= check.tie_breaker
        if self.controlling == ours_wins:
            raise CheckError(487, "Role Conflict")
        self._switch_role()

    def _switch_role(self) -> None:
        self.controlling = not self.controlling
        log.info("role conflict: now %s", "controlling" if self.controlling else "controlled")
        for pair in self.pairs:
            g, d = pair.local.priority, pair.remote.priority
            pair.priority = pair_priority(g, d) if self.controlling else pair_priority(d, g)

    def _pair_for_incoming(self, conn: _Conn, check: InboundCheck) -> CandidatePair:
        """The pair of a check that arrived on our passive candidate (RFC 6544 §7.2): the remote
        is the peer's active candidate of that IP (active ports carry no meaning, RFC 6544
        §4.5), else a new peer-reflexive candidate (RFC 5245 §7.2.1.3)."""
        host, port = conn.remote_addr
        remote = next((c for c in self.remote_candidates
                       if c.address == host and c.direction == "active"
                       and c.component == conn.local.component), None)
        if remote is None:
            ms = conn.local.transport.upper().startswith("TCP-")
            remote = Candidate(f"prflx{conn.id}", conn.local.component,
                               "TCP-ACT" if ms else "TCP", check.priority, host, port, "prflx",
                               tcptype=None if ms else "active")
            self.remote_candidates.append(remote)
        for pair in self.pairs:
            if pair.local == conn.local and pair.remote == remote:
                pair.pruned = None  # a passive local pair comes alive when checked into
                return pair
        g, d = ((conn.local.priority, remote.priority) if self.controlling
                else (remote.priority, conn.local.priority))
        pair = CandidatePair(self._next_id, conn.local, remote, pair_priority(g, d),
                             state=PairState.WAITING)
        self._next_id += 1
        self.pairs.append(pair)
        return pair

    def _on_response(self, conn: _Conn, raw: bytes, msg: Message, now: float) -> None:
        pair = conn.pair
        if pair is None or conn.txn != msg.transaction_id or not self.remote_pwd:
            log.info("connection %d: dropped a response to no check of ours", conn.id)
            return
        try:
            verify_response(raw, remote_pwd=self.remote_pwd)
        except CheckError as exc:
            log.info("check #%d: dropped a response: %s", pair.id, exc.reason)
            return
        nominating, conn.txn, conn.deadline = conn.txn_nominating, None, None
        err = msg.error
        if msg.cls is MessageClass.ERROR and err is not None:
            if err.code == 487:  # §7.1.3.1: switch role, check again
                self._switch_role()
                conn.triggered = True
                self._schedule_tick(now)
                return
            pair.fail(f"STUN error {err.code} {err.reason}".rstrip())
            self._close(conn, pair.failure or "")
            return
        self._succeeded(pair, msg, nominating)
        if self.controlling and not pair.nominated and not self._nominating():
            conn.nominate_next = conn.triggered = True  # regular nomination (§8.1.1.1)
            self._schedule_tick(now)
        self._maybe_select(now)
        if not self.done and self._has_work():
            self._schedule_tick(now)  # pairs unfrozen by this success (RFC 5245 §7.1.3.2.3)

    def _nominating(self) -> bool:
        return any(c.nominate_next or (c.txn_nominating and c.txn is not None)
                   for c in self._conns.values())

    def _succeeded(self, pair: CandidatePair, msg: Message, nominating: bool) -> None:
        pair.state = PairState.SUCCEEDED
        pair.failure = None
        mapped = msg.get(XorMappedAddress)
        if mapped is not None and mapped.host != pair.local.address:
            pair.notes.append(f"mapped address {mapped.host}:{mapped.port} is peer-reflexive")
        if nominating:
            pair.nominated = True
        unfreeze_foundation(self.pairs, pair.foundation)
        log.info("check #%d %s succeeded%s", pair.id, pair.describe(),
                 " (nominated)" if nominating else "")

    # --- completion -----------------------------------------------------------------------

    def _maybe_select(self, now: float) -> None:
        if self.done:
            return
        for conn in self._conns.values():
            pair = conn.pair
            if pair is None or pair.state is not PairState.SUCCEEDED:
                continue
            if self.controlling:
                ok = pair.nominated and (pair.inbound_ok or not self.config.bidirectional)
            else:
                ok = pair.peer_nominated
            if ok:
                self._complete(pair, conn)
                return

    def _complete(self, pair: CandidatePair, conn: _Conn) -> None:
        self.state = AgentState.COMPLETED
        self.selected = (pair, conn.id)
        log.info("selected #%d %s", pair.id, pair.describe())
        for other in list(self._conns.values()):
            if other.id != conn.id:
                if other.pair is not None and other.pair.state is PairState.IN_PROGRESS:
                    other.pair.fail(f"cancelled: ICE completed on pair #{pair.id}")
                self._close(other, f"ICE completed on pair #{pair.id}")
        for rest in self.pairs:  # RFC 5245 §8.1.2: no more checks for this component
            if rest.pruned is None and rest.state in (PairState.WAITING, PairState.FROZEN):
                rest.pruned = (f"removed: ICE completed on pair #{pair.id} before this pair "
                               "was checked (RFC 5245 §8.1.2)")
        conn.deadline = None
        self._actions.append(Selected(pair, conn.id))

    def _check_done(self, now: float) -> None:
        if self.done or not self.controlling or not self.pairs:
            return
        live = [p for p in self.pairs if p.pruned is None]
        if any(p.state is not PairState.FAILED for p in live):
            return
        if any(p.local.direction == "passive" for p in self.pairs) or self._conns:
            return  # the peer may still connect in (RFC 6544 §7.2): wait for the overall timer
        reasons = "; ".join(f"#{p.id} {p.failure}" for p in live)
        self._fail(f"every pair failed: {reasons}" if live else "no pair to check", now)

    def _fail(self, reason: str, now: float) -> None:
        for pair in self.pairs:
            if pair.pruned is None and pair.state in (PairState.IN_PROGRESS, PairState.WAITING,
                                                      PairState.FROZEN):
                pair.fail(f"not completed: {reason}" if pair.state is PairState.IN_PROGRESS
                          else "not checked before ICE gave up")
        for conn in list(self._conns.values()):
            self._close(conn, reason)
        self.state = AgentState.FAILED
        self.failure = reason
        log.info("ICE failed: %s", reason)
        self._actions.append(Failed(reason))
