"""The traversal flow's keeper (RFC 5626 §4.4.1 pings and pongs, §4.5 back-off), time driven as
an argument: (time, event) -> actions, deadlines, and the framer's pongs feeding it."""

from __future__ import annotations

from lab.proto.sip.framing import Ping, Pong, SipStreamFramer
from lab.proto.sip.keepalive import FlowKeeper, KeepAction

CONNECT, PING_, CLOSE = KeepAction.CONNECT, KeepAction.PING, KeepAction.CLOSE


def _play(keeper: FlowKeeper, steps: list[tuple[float, str, object]]) -> None:
    for now, event, expected in steps:
        if event == "timer":
            got: object = keeper.handle_timer(now)
        elif event == "deadline":
            got = keeper.next_deadline()
        else:
            got = getattr(keeper, event)(now)
        assert got == expected, (now, event, got, expected)


def test_back_off_doubles_up_to_the_cap_while_connecting_fails() -> None:
    keeper = FlowKeeper(0.0, backoff_max=30.0)
    steps: list[tuple[float, str, object]] = [(0.0, "timer", [CONNECT])]
    now = 0.0
    for delay in (1, 2, 4, 8, 16, 30, 30):
        steps += [(now, "connect_failed", now + delay), (now + delay - 0.01, "timer", []),
                  (now + delay, "timer", [CONNECT])]
        now += delay
    _play(keeper, steps)
    assert keeper.failures == 7


def test_pings_every_interval_and_closes_when_the_pong_is_overdue() -> None:
    keeper = FlowKeeper(0.0, interval=10.0, pong_timeout=5.0)
    _play(keeper, [
        (0.0, "timer", [CONNECT]), (0.2, "connected", None), (0.2, "deadline", 10.2),
        (10.1, "timer", []), (10.2, "timer", [PING_]), (10.2, "deadline", 15.2),
        (10.3, "pong", None), (10.3, "deadline", 20.2),  # answered: next ping in 10 s
        (20.2, "timer", [PING_]), (25.1, "timer", []),
        (25.2, "timer", [CLOSE]), (25.3, "timer", []),  # dead: closed once, no more pings
        (25.3, "pong", None),  # a pong after the verdict changes nothing
        (25.4, "lost", 26.4), (26.4, "timer", [CONNECT]),  # first failure: 1 s
    ])


def test_a_pong_timeout_longer_than_the_interval_counts_from_the_first_ping() -> None:
    keeper = FlowKeeper(0.0, interval=1.0, pong_timeout=2.5)
    _play(keeper, [(0.0, "timer", [CONNECT]), (0.0, "connected", None),
                   (1.0, "timer", [PING_]), (2.0, "timer", [PING_]), (3.0, "timer", [PING_]),
                   (3.5, "timer", [CLOSE])])


def test_failures_restart_only_after_a_pong() -> None:
    keeper = FlowKeeper(0.0, interval=1.0)
    # a peer that accepts and drops at once: 1, 2, 4 s, no tight loop
    _play(keeper, [(0.0, "timer", [CONNECT]), (0.0, "connected", None), (0.1, "lost", 1.1),
                   (1.1, "timer", [CONNECT]), (1.1, "connected", None), (1.2, "lost", 3.2),
                   (3.2, "timer", [CONNECT]), (3.2, "connected", None),
                   (4.2, "timer", [PING_]), (4.3, "pong", None), (9.0, "lost", 10.0)])
    assert keeper.failures == 1


def test_the_framer_tells_the_pong_from_a_ping_and_feeds_the_keeper() -> None:
    keeper, framer = FlowKeeper(0.0, interval=1.0, pong_timeout=1.0), SipStreamFramer()
    keeper.handle_timer(0.0)
    keeper.connected(0.0)
    assert keeper.handle_timer(1.0) == [PING_]
    framer.ping_sent()  # we wrote CRLFCRLF
    assert framer.feed(b"\r\n\r\n") == [Ping()]  # the peer's own ping is not our pong
    assert keeper.next_deadline() == 2.0
    events = framer.feed(b"\r\n")  # the pong: one CRLF
    assert events == [Pong()]
    keeper.pong(1.1)
    assert keeper.next_deadline() == 2.0 and keeper.handle_timer(2.0) == [PING_]
