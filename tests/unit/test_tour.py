"""The tour's stops and the daemons' breakpoints it relies on (``hold``, ``release`` keep)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lab import scenario
from lab.base.errors import InputError
from lab.ladder.steps import STEPS
from lab.run.faults import LinkCut
from lab.run.tour import STOPS, TOUR_TIME_SCALE, Tour
from lab.scenario import DAEMON_EVENTS
from lab.web import explain
from nodes.common import MAX_HOLD, Daemon, EventLog


def test_stops_cover_every_step_once_in_order() -> None:
    covered = [n for stop in STOPS for n in stop.next_steps]
    assert covered == [s.number for s in STEPS]
    for stop in STOPS:
        assert stop.event in DAEMON_EVENTS[stop.role]


def test_breakpoints_set_ahead_stay_until_reached() -> None:
    log = EventLog(hold_limit=0.2)

    async def main() -> None:
        log.hold(["invite", "answered"], limit=5)
        first = asyncio.ensure_future(log.reach("invite"))
        await asyncio.sleep(0.05)
        assert not first.done()  # held, longer than hold_limit would allow
        assert log.release(keep=True) == 1
        assert (await first).held
        second = asyncio.ensure_future(log.reach("answered"))  # still a breakpoint
        await asyncio.sleep(0.3)
        assert not second.done()  # its own limit (5 s), not hold_limit
        assert log.release() == 1  # without keep: every hold dropped
        assert (await second).held
        assert not (await log.reach("invite")).held

    asyncio.run(main())


def test_hold_command_checks_its_limit(tmp_path: Path) -> None:
    daemon = Daemon.__new__(Daemon)
    daemon.events = EventLog()

    async def main() -> None:
        bad = await daemon._hold({"events": ["invite"], "limit": MAX_HOLD + 1})
        assert bad["ok"] is False and "at most" in bad["error"]
        assert (await daemon._hold({"events": "invite"}))["ok"] is False
        assert (await daemon._hold({"events": ["invite"], "limit": 30}))["holding"] == ["invite"]

    asyncio.run(main())


def test_tour_plan_and_faults_at_a_stop() -> None:
    sc = scenario.load("screen-share")
    tour = Tour(sc, lambda _halt: None)
    plan = tour.plan()
    assert plan.time_scale == TOUR_TIME_SCALE
    assert plan.faults[-1] is tour
    assert plan.scenario.limits.setup_seconds >= len(STOPS) * tour.limit
    with pytest.raises(InputError, match="fault"):
        tour.go_on("cut: {link: nowhere:eth0}")
    with pytest.raises(InputError, match="at once"):
        tour.go_on("cut: {link: sfb-edge:external, at: cms:answered}")
    tour.go_on("cut: {link: sfb-edge:external}")
    queued = tour._decisions.get_nowait()
    assert isinstance(queued, LinkCut) and queued.at is None


def test_explanations_cover_every_step_with_a_reference(tmp_path: Path) -> None:
    texts = explain.load()
    assert sorted(texts) == [s.number for s in STEPS]
    assert all(t.rfc.startswith("RFC ") and t.what and t.why for t in texts.values())
    lines = explain.FILE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- step: 33")
    (tmp_path / "short.yaml").write_text("\n".join(lines[:start]) + "\n")
    with pytest.raises(InputError, match=r"\[33\] have no explanation"):
        explain.load(tmp_path / "short.yaml")
    bad = explain.FILE.read_text().replace("rfc: RFC 6062 §4.4", "rfc: see the RFC")
    (tmp_path / "bad.yaml").write_text(bad)
    with pytest.raises(InputError, match="not an RFC reference") as err:
        explain.load(tmp_path / "bad.yaml")
    assert err.value.line is not None and "see the RFC" in bad.splitlines()[err.value.line - 1]
