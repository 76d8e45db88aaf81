"""The ICE check state machine, time as an argument: two agents joined by a fake network that
reproduces the seed's reachability (flow.md §1-§3), no sockets and no sleeps."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.proto.ice import (
    AgentState,
    Close,
    Connect,
    Failed,
    IceAgent,
    IceConfig,
    PairState,
    Selected,
    SendStun,
    success_response,
)
from lab.proto.sdp import Candidate
from lab.proto.stun import (
    CandidateIdentifier,
    IceControlled,
    IceControlling,
    ImplementationVersion,
    MessageClass,
    Rfc4571Framer,
    UseCandidate,
    Username,
    XorMappedAddress,
    parse,
)
from tests.unit.test_ice_pairs import CMS, SKYPE

NO_ROUTE = "no route: connect from 192.168.251.128 failed with ENETUNREACH"
TURN_447 = "TURN Connect: 447 Connection Timeout or Failure"
HANG = "hang"

# (local port, remote port) -> outcome; the seed's reachability (flow.md §1, §3)
SEED_ROUTES: dict[tuple[int, int], str] = {
    (13450, 38547): NO_ROUTE, (13450, 24000): NO_ROUTE,
    (51577, 38547): TURN_447, (51577, 24000): "ok",
}
# who the peer sees connecting: the Edge connects from the passive relay (seed, docs/ice-media.md)
SEED_SOURCES = {(51577, 24000): ("192.168.1.252", 53577)}


@dataclass
class FakeNet:
    """Carries actions between two agents with a fixed one-way delay."""

    a: IceAgent
    b: IceAgent
    routes: dict[tuple[int, int], str]
    sources: dict[tuple[int, int], tuple[str, int]]
    delay: float = 0.005
    now: float = 1000.0
    links: dict[tuple[int, int], tuple[IceAgent, int]] = field(default_factory=dict)
    wire: list[tuple[str, bytes]] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    results: dict[str, object] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)
    _queue: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def name(self, agent: IceAgent) -> str:
        return "a" if agent is self.a else "b"

    def peer(self, agent: IceAgent) -> IceAgent:
        return self.b if agent is self.a else self.a

    def later(self, fn: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (self.now + self.delay, next(self._seq), fn))

    def pump(self) -> None:
        busy = True
        while busy:
            busy = False
            for agent in (self.a, self.b):
                for action in agent.actions():
                    busy = True
                    self.perform(agent, action)

    def perform(self, agent: IceAgent, action: object) -> None:
        if isinstance(action, Connect):
            self.connect(agent, action)
        elif isinstance(action, SendStun):
            self.send(agent, action)
        elif isinstance(action, Close):
            self.close(agent, action.conn)
        elif isinstance(action, Selected | Failed):
            self.results[self.name(agent)] = action
            self.times[self.name(agent)] = self.now

    def connect(self, agent: IceAgent, action: Connect) -> None:
        pair = action.pair
        outcome = self.routes.get((pair.local.port, pair.remote.port), NO_ROUTE)
        if outcome == HANG:
            return
        if outcome != "ok":
            self.later(lambda: agent.connect_failed(action.conn, outcome, self.now))
            return
        source = self.sources.get((pair.local.port, pair.remote.port),
                                  (pair.local.address, pair.local.port))
        peer = self.peer(agent)
        local = next(c for c in peer.local_candidates
                     if (c.address, c.port) == (pair.remote.address, pair.remote.port))

        def arrive() -> None:
            pconn = peer.incoming(local, source, self.now)
            self.links[(id(agent), action.conn)] = (peer, pconn)
            self.links[(id(peer), pconn)] = (agent, action.conn)
            agent.connected(action.conn, self.now)
        self.later(arrive)

    def send(self, agent: IceAgent, action: SendStun) -> None:
        link = self.links.get((id(agent), action.conn))
        if link is None:
            return
        self.wire.append((self.name(agent), action.data))
        self.sent_at.append(self.now)
        peer, pconn = link
        data = action.data
        self.later(lambda: peer.frame_received(pconn, data, self.now))

    def close(self, agent: IceAgent, conn: int) -> None:
        link = self.links.pop((id(agent), conn), None)
        if link is not None:
            peer, pconn = link
            self.links.pop((id(peer), pconn), None)
            self.later(lambda: peer.connection_lost(pconn, "closed by peer", self.now))

    def run(self, until: float = 60.0) -> None:
        end = self.now + until
        self.pump()
        while self.now < end and not (self.a.done and self.b.done):
            times = [t for t in (self.a.next_deadline(), self.b.next_deadline()) if t is not None]
            if self._queue:
                times.append(self._queue[0][0])
            if not times:
                break
            self.now = max(self.now, min(times))
            while self._queue and self._queue[0][0] <= self.now:
                heapq.heappop(self._queue)[2]()
                self.pump()
            for agent in (self.a, self.b):
                agent.handle_timer(self.now)
            self.pump()


def seed_agents(**timers: float) -> tuple[IceAgent, IceAgent]:
    config = replace(IceConfig(), **timers)  # type: ignore[arg-type]
    skype = IceAgent(controlling=True, local_ufrag="SkyP", local_pwd="skype-password-0123456789",
                     local_candidates=SKYPE, config=replace(config, ms_ice2=True), tie_breaker=2)
    cms = IceAgent(controlling=False, local_ufrag="CmsU", local_pwd="cms-password-0123456789ab",
                   local_candidates=CMS, config=config, tie_breaker=1)
    return skype, cms


def start(skype: IceAgent, cms: IceAgent, now: float) -> None:
    cms.set_remote(skype.local_ufrag, skype.local_pwd, SKYPE, now)
    skype.set_remote(cms.local_ufrag, cms.local_pwd, CMS, now)


def test_seed_selects_relay_to_relay_with_four_binding_messages() -> None:
    skype, cms = seed_agents()
    net = FakeNet(skype, cms, SEED_ROUTES, SEED_SOURCES)
    start(skype, cms, net.now)
    net.run()
    assert skype.state is AgentState.COMPLETED and cms.state is AgentState.COMPLETED
    sel_a, sel_b = net.results["a"], net.results["b"]
    assert isinstance(sel_a, Selected) and isinstance(sel_b, Selected)
    assert (sel_a.pair.local.port, sel_a.pair.remote.port) == (51577, 24000)
    # CMS maps the connection from 192.168.1.252:53577 to Skype's active relay candidate by IP
    assert (sel_b.pair.local.port, sel_b.pair.remote.port) == (24000, 51577)
    report = {r.id: r for r in skype.report()}
    assert report[1].reason == NO_ROUTE and report[3].reason == NO_ROUTE
    assert report[5].reason == TURN_447
    assert report[2].state == report[4].state == "pruned"
    assert report[6].state == "succeeded" and report[6].nominated

    kinds = [(who, parse(data).cls) for who, data in net.wire]
    assert kinds == [("a", MessageClass.REQUEST), ("b", MessageClass.SUCCESS),
                     ("b", MessageClass.REQUEST), ("a", MessageClass.SUCCESS)]
    first = net.wire[0][1]
    assert len(first) == 108
    assert Rfc4571Framer.frame(first)[:4] == bytes.fromhex("006c0001")
    # CMS answers at once, and sends its triggered check at the next Ta tick (RFC 5245 §5.8)
    assert net.sent_at[1] == net.sent_at[0] + net.delay
    assert net.sent_at[2] == pytest.approx(net.sent_at[1] + skype.config.ta)
    req = parse(first)
    assert req.get(ImplementationVersion) == ImplementationVersion(3)  # RFC 5389 formats
    assert [type(a).__name__ for a in req.attributes] == [
        "Username", "Priority", "IceControlling", "UseCandidate", "ImplementationVersion",
        "CandidateIdentifier", "MessageIntegrity", "Fingerprint"]
    assert req.get(Username) == Username("CmsU:SkyP")
    assert req.get(CandidateIdentifier) == CandidateIdentifier(b"4\x00\x00\x00")
    ok = parse(net.wire[1][1])
    assert ok.get(XorMappedAddress) == XorMappedAddress("192.168.1.252", 53577)
    back = parse(net.wire[2][1])
    assert back.has(IceControlled) and not back.has(UseCandidate)
    assert not back.has(ImplementationVersion)  # CMS is not an MS-ICE2 agent here
    assert back.get(Username) == Username("SkyP:CmsU")


def test_checks_are_paced_by_ta() -> None:
    skype, cms = seed_agents(ta=0.05)
    now = 0.0
    start(skype, cms, now)
    starts = []
    for _ in range(4):
        deadline = skype.next_deadline()
        assert deadline is not None
        skype.handle_timer(deadline)
        starts += [deadline for a in skype.actions() if isinstance(a, Connect)]
    assert starts == pytest.approx([0.0, 0.05, 0.10, 0.15])
    assert skype.next_deadline() == pytest.approx(5.0)  # the first connect's timeout


def test_unanswered_connect_times_out_with_reason() -> None:
    routes = dict(SEED_ROUTES)
    routes[(51577, 38547)] = HANG
    skype, cms = seed_agents(connect_timeout=3.0)
    net = FakeNet(skype, cms, routes, SEED_SOURCES)
    start(skype, cms, net.now)
    net.run()
    report = {r.id: r for r in skype.report()}
    # ICE completed on #6 before #5's connect timer ran out: #5 was cancelled, not skipped
    assert report[5].reason == "cancelled: ICE completed on pair #6"
    assert skype.state is AgentState.COMPLETED


def test_every_pair_failing_fails_ice_with_reasons() -> None:
    routes = dict(SEED_ROUTES)
    routes[(51577, 24000)] = HANG
    skype, cms = seed_agents(connect_timeout=2.0, overall_timeout=10.0, ta=0.05)
    net = FakeNet(skype, cms, routes, SEED_SOURCES)
    start(skype, cms, net.now)
    begin = net.now
    net.run()
    failed = net.results["a"]
    assert isinstance(failed, Failed)
    assert "#6 timeout: TCP connect not answered within 2 s" in failed.reason
    assert NO_ROUTE in failed.reason and TURN_447 in failed.reason
    assert net.times["a"] == pytest.approx(begin + 0.15 + 2.0)  # #6 started at 3 x Ta, then 2 s


def test_unanswered_binding_request_times_out() -> None:
    skype, _ = seed_agents(check_timeout=4.0)
    # CMS never got the offer's credentials: it cannot answer, only drop
    cms_deaf = IceAgent(controlling=False, local_ufrag="Zzzz", local_pwd="x" * 22,
                        local_candidates=CMS)
    net = FakeNet(skype, cms_deaf, SEED_ROUTES, SEED_SOURCES)
    skype.set_remote("CmsU", "cms-password-0123456789ab", CMS, net.now)
    net.run(until=20.0)
    report = {r.id: r for r in skype.report()}
    assert report[6].reason == "timeout: Binding request not answered within 4 s"
    assert skype.state is AgentState.FAILED


def test_wrong_password_is_refused_with_401() -> None:
    skype, cms = seed_agents(check_timeout=2.0)
    net = FakeNet(skype, cms, SEED_ROUTES, SEED_SOURCES)
    cms.set_remote(skype.local_ufrag, skype.local_pwd, SKYPE, net.now)
    skype.set_remote(cms.local_ufrag, "not-the-right-password-x", CMS, net.now)
    net.run(until=10.0)
    errors = [parse(d) for who, d in net.wire if who == "b"]
    assert errors and errors[0].cls is MessageClass.ERROR and errors[0].error is not None
    assert errors[0].error.code == 401
    assert skype.state is AgentState.FAILED  # a 401 without integrity is dropped: timeout


def test_role_conflict_resolved_by_tie_breaker() -> None:
    # both sides believe they control; CMS has the larger tie-breaker and keeps the role
    skype = IceAgent(controlling=True, local_ufrag="SkyP", local_pwd="p" * 22,
                     local_candidates=SKYPE, tie_breaker=5)
    cms = IceAgent(controlling=True, local_ufrag="CmsU", local_pwd="q" * 22,
                   local_candidates=CMS, tie_breaker=9)
    net = FakeNet(skype, cms, SEED_ROUTES, SEED_SOURCES)
    cms.set_remote("SkyP", "p" * 22, SKYPE, net.now)
    skype.set_remote("CmsU", "q" * 22, CMS, net.now)
    net.run()
    codes = [parse(d).error for _, d in net.wire if parse(d).cls is MessageClass.ERROR]
    assert [c.code for c in codes if c is not None] == [487]
    assert not skype.controlling and cms.controlling
    assert skype.state is AgentState.COMPLETED and cms.state is AgentState.COMPLETED
    first_retry = parse(net.wire[2][1])
    assert first_retry.has(IceControlled)


def test_role_conflict_switch_on_receipt() -> None:
    # both controlled: the one with the larger tie-breaker becomes controlling on receipt
    skype = IceAgent(controlling=False, local_ufrag="SkyP", local_pwd="p" * 22,
                     local_candidates=SKYPE, tie_breaker=5)
    cms = IceAgent(controlling=False, local_ufrag="CmsU", local_pwd="q" * 22,
                   local_candidates=CMS, tie_breaker=9)
    net = FakeNet(skype, cms, SEED_ROUTES, SEED_SOURCES)
    cms.set_remote("SkyP", "p" * 22, SKYPE, net.now)
    skype.set_remote("CmsU", "q" * 22, CMS, net.now)
    net.run(until=5.0)
    assert cms.controlling and not skype.controlling
    assert cms.state is AgentState.COMPLETED and skype.state is AgentState.COMPLETED
    assert skype.selected is not None and skype.selected[0].state is PairState.SUCCEEDED


def test_agent_keeps_answering_after_completion() -> None:
    skype, cms = seed_agents()
    net = FakeNet(skype, cms, SEED_ROUTES, SEED_SOURCES)
    start(skype, cms, net.now)
    net.run()
    assert skype.selected is not None
    conn = skype.selected[1]
    before = len(net.wire)
    # CMS re-checks the selected pair (a keep-alive): Skype still answers
    cms_conn = cms.selected[1] if cms.selected else 0
    cms._conns[cms_conn].triggered = True  # white-box: queue one more check
    cms.state = AgentState.RUNNING
    cms._schedule_tick(net.now)
    net.run(until=1.0)
    assert len(net.wire) == before + 2 and conn == skype.selected[1]
    assert parse(net.wire[-1][1]).cls is MessageClass.SUCCESS


def test_controlled_only_has_no_deadline_before_any_check() -> None:
    cms = IceAgent(controlling=False, local_ufrag="CmsU", local_pwd="q" * 22,
                   local_candidates=CMS, config=IceConfig(overall_timeout=7.0))
    assert cms.next_deadline() is None
    cms.set_remote("SkyP", "p" * 22, SKYPE, 100.0)
    assert cms.next_deadline() == pytest.approx(107.0)  # nothing to check: only the give-up
    cms.handle_timer(107.0)
    assert cms.state is AgentState.FAILED
    failed = cms.actions()[-1]
    assert isinstance(failed, Failed) and "within 7 s" in failed.reason


def test_controlling_tie_breaker_in_request() -> None:
    skype, cms = seed_agents()
    net = FakeNet(skype, cms, SEED_ROUTES, SEED_SOURCES)
    start(skype, cms, net.now)
    net.run()
    req = parse(net.wire[0][1])
    assert req.get(IceControlling) == IceControlling(2)


def test_regular_nomination_adds_a_second_check() -> None:
    skype, cms = seed_agents(aggressive=False)
    net = FakeNet(skype, cms, SEED_ROUTES, SEED_SOURCES)
    start(skype, cms, net.now)
    net.run()
    assert skype.state is AgentState.COMPLETED and cms.state is AgentState.COMPLETED
    msgs = [(who, parse(d)) for who, d in net.wire]
    kinds = [(who, m.cls, m.has(UseCandidate)) for who, m in msgs]
    assert kinds[:2] == [("a", MessageClass.REQUEST, False), ("b", MessageClass.SUCCESS, False)]
    # then, in an order the timers decide: CMS's triggered check and its answer, Skype's
    # nominating check (USE-CANDIDATE, RFC 5245 §8.1.1.1) and its answer
    assert sorted(kinds[2:]) == sorted([
        ("b", MessageClass.REQUEST, False), ("a", MessageClass.SUCCESS, False),
        ("a", MessageClass.REQUEST, True), ("b", MessageClass.SUCCESS, False)])
    answered = {m.transaction_id for _, m in msgs if m.cls is MessageClass.SUCCESS}
    assert answered == {m.transaction_id for _, m in msgs if m.cls is MessageClass.REQUEST}
    assert len(net.wire[0][1]) == 104  # the same check without USE-CANDIDATE


def test_success_unfreezes_the_same_foundation() -> None:
    remote = [Candidate.parse("9 1 TCP-PASS 2130706431 10.48.54.230 38547 typ host"),
              Candidate.parse("9 2 TCP-PASS 2130706430 10.48.54.230 38547 typ host")]
    skype = IceAgent(controlling=True, local_ufrag="SkyP", local_pwd="p" * 22,
                     local_candidates=SKYPE[2:4], config=IceConfig(aggressive=False))
    skype.set_remote("CmsU", "q" * 22, remote, 0.0)
    comp2 = next(p for p in skype.pairs if p.local.component == 2)
    assert comp2.state is PairState.FROZEN
    skype.handle_timer(0.0)
    connect = skype.actions()[0]
    assert isinstance(connect, Connect) and connect.pair.local.component == 1
    skype.connected(connect.conn, 0.001)
    sent = skype.actions()[0]
    assert isinstance(sent, SendStun)
    request = parse(sent.data)
    ok = success_response(request, ("192.168.251.128", 13450), local_pwd="q" * 22,
                          ms_ice2=False)
    skype.frame_received(connect.conn, ok, 0.002)
    assert comp2.state.value == "waiting"  # RFC 5245 §7.1.3.2.3
    assert skype.next_deadline() == pytest.approx(0.02)  # the next Ta tick


def test_remote_candidates_again_are_ignored_restart_refused() -> None:
    skype, cms = seed_agents()
    net = FakeNet(skype, cms, SEED_ROUTES, SEED_SOURCES)
    start(skype, cms, net.now)
    net.run()
    selected = skype.selected
    skype.set_remote(cms.local_ufrag, cms.local_pwd, CMS[1:], net.now)  # the re-INVITE's SDP
    assert skype.selected == selected and skype.state is AgentState.COMPLETED
    assert len(skype.pairs) == 6
    with pytest.raises(ValueError, match="ICE restart"):
        skype.set_remote("Othr", "o" * 22, CMS, net.now)


OUTCOMES = ["ok", NO_ROUTE, TURN_447, HANG]
LIVE = [(13450, 38547), (13450, 24000), (51577, 38547), (51577, 24000)]  # priority order


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(OUTCOMES), min_size=4, max_size=4))
def test_any_reachability_ends_with_a_reason_for_every_pair(outcomes: list[str]) -> None:
    routes = dict(zip(LIVE, outcomes, strict=True))
    skype, cms = seed_agents(connect_timeout=1.0, overall_timeout=8.0)
    net = FakeNet(skype, cms, routes, SEED_SOURCES)
    start(skype, cms, net.now)
    net.run(until=20.0)
    working = [key for key, outcome in routes.items() if outcome == "ok"]
    if working:
        assert skype.state is AgentState.COMPLETED and cms.state is AgentState.COMPLETED
        assert skype.selected is not None
        pair = skype.selected[0]
        assert (pair.local.port, pair.remote.port) == working[0]  # the first to be checked
    else:
        assert skype.state is AgentState.FAILED and skype.failure
    for r in skype.report():
        assert r.state in ("pruned", "failed", "succeeded")
        assert (r.reason is None) == (r.state == "succeeded"), r
    assert not any(p.state is PairState.IN_PROGRESS for p in skype.pairs)


def test_a_faster_clock_scales_the_long_timers_but_not_the_pacing() -> None:
    cfg = IceConfig(ms_ice2=True).scaled(0.2)
    # the connect timeout stops at 2 s: 5 s x 0.2 would be 1 s
    assert (cfg.connect_timeout, cfg.check_timeout, cfg.overall_timeout) == pytest.approx(
        (2.0, 7.9, 9.0))
    assert IceConfig(connect_timeout=1.0).scaled(0.1).connect_timeout == 1.0  # never raised
    assert IceConfig(connect_timeout=30.0).scaled(0.5).connect_timeout == 15.0
    assert cfg.ta == IceConfig().ta and cfg.ms_ice2
    assert IceConfig().scaled(1.0) == IceConfig()
