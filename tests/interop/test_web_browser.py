"""The web UI in a real browser: Debian's headless Chromium driven by Selenium (chromium-driver),
against ``uclab serve`` running real labs. One server with two seats for the module; each test
leaves its seat idle. Screenshots of the main pages go to build/screenshots (docs/web.md shows
them).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from lab.base.state import RunDir
from tests.webhelp import (
    CHROMEDRIVER,
    CHROMIUM,
    ServeHandle,
    browser,
    free_port,
    screenshots,
    served,
)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                                 reason="chromium and chromium-driver are installed by ./setup")]

DATA = Path(__file__).resolve().parent.parent / "data"


SERVED: list[ServeHandle] = []  # the module's server, for the failure messages


@pytest.fixture(scope="module")
def srv() -> Iterator[ServeHandle]:
    with served(seats=2) as handle:
        SERVED.append(handle)
        yield handle
        SERVED.clear()
    for seat in handle.seats:
        assert not RunDir(seat.lab).path.exists(), f"lab {seat.lab} left behind"


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with browser() as d:
        yield d


def by(driver: Any, css: str) -> Any:
    return driver.find_element(By.CSS_SELECTOR, css)


def wait(driver: Any, what: Any, seconds: float = 60) -> Any:
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.1).until(what)
    except TimeoutException:
        seats = SERVED[0].seats if SERVED else None
        errors = {s.number: (s.job, s.error) for s in seats} if seats else {}
        shown = driver.find_element(By.CSS_SELECTOR, "body").text[:1500]
        pytest.fail(f"timed out after {seconds} s; seats (job, error): {errors}; page: {shown}")


def events(driver: Any) -> list[str]:
    return list(driver.execute_script("return window.uclabEvents"))


def wait_event(driver: Any, name: str, after: int, seconds: float = 90) -> None:
    wait(driver, lambda d: name in events(d)[after:], seconds)


def open_seat(driver: Any, srv: ServeHandle, seat: int = 1, tab: str = "lab") -> None:
    driver.get(srv.seat_url(seat))
    wait(driver, lambda d: d.execute_script("return window.uclabEvents.includes('state')"), 20)
    by(driver, f"#tab-{tab}").click()
    if tab == "call":
        wait(driver, lambda d: d.find_elements("css selector", "#scenario option"), 20)


def idle(srv: ServeHandle, seat: int = 1) -> None:
    deadline = time.monotonic() + 60
    while srv.seats.seats[seat].job is not None:
        assert time.monotonic() < deadline, "the seat stayed busy"
        time.sleep(0.1)


def test_lab_page_brings_the_lab_up_and_down(srv: ServeHandle, driver: Any) -> None:
    open_seat(driver, srv)
    assert "lab" in by(driver, "#seat-name").text
    by(driver, "#btn-up").click()
    wait(driver, lambda d: "running" in by(d, 'tr[data-node="cms"]').text, 60)
    row = by(driver, 'tr[data-node="expressway-e"]').text
    assert "present" in row and "running (pid" in row
    assert by(driver, '[data-firewall="fw-inside"]').text  # its counters are listed
    driver.save_screenshot(str(screenshots() / "lab.png"))
    by(driver, "#btn-down").click()
    wait(driver, lambda d: by(d, "#lab-phase").text == "the lab is down", 60)
    idle(srv)
    assert not RunDir(srv.seats.seats[1].lab).path.exists()


def test_share_draws_33_steps_live_and_passes(srv: ServeHandle, driver: Any) -> None:
    open_seat(driver, srv, tab="call")
    mark = len(events(driver))
    by(driver, "#btn-run").click()
    wait_event(driver, "ladder", mark)  # arrows pushed while the call runs
    wait_event(driver, "report", mark)
    seen = [e for e in events(driver)[mark:]]
    assert seen.index("ladder") < seen.index("report")
    assert by(driver, "#verdict-summary").text.startswith("PASS")
    rows = driver.find_elements("css selector", "#steps tbody tr")
    assert len(rows) == 33
    assert all(r.get_attribute("data-status") == "seen" for r in rows)
    by(driver, 'g.arrow[data-step="18"]').click()
    detail = by(driver, "#detail").text
    assert "XOR-PEER-ADDRESS 192.168.1.252:53577" in detail
    assert "expressway-e:internal" in detail  # the interface it was seen on
    assert "RFC 6062 §4.4" in detail  # the step's explanation and reference
    by(driver, 'g.arrow[data-step="1"]').click()
    assert "INVITE sip:88001@vc.lab SIP/2.0" in by(driver, "#detail pre.sip").text
    assert driver.find_elements("css selector", "#media svg.chart")  # media drawn
    assert "sfb-client" in by(driver, "#daemon-media").text  # and counted by the daemons
    assert "succeeded (nominated)" in by(driver, "#ice").text
    for kind in ("pcapng", "html", "json", "junit"):
        assert by(driver, f"#dl-{kind}").get_attribute("href")
    delays = driver.execute_script("return window.uclabDelays")
    assert delays, "no arrow arrived live"
    driver.save_screenshot(str(screenshots() / "call.png"))
    driver.execute_script("document.getElementById('after').scrollIntoView()")
    driver.save_screenshot(str(screenshots() / "report.png"))
    href = by(driver, "#dl-json").get_attribute("href")
    with urllib.request.urlopen(href, timeout=10) as r:
        assert json.load(r)["verdict"]["verdict"] == "pass"
    idle(srv)


def _tour_until(driver: Any, stop_index: int, mark: int) -> None:
    """Next at every stop before ``stop_index`` (0-based), then wait at that one."""
    for i in range(stop_index + 1):
        wait(driver, lambda d, i=i: by(d, "#tour-title").is_displayed()
             and by(d, "#tour-title").text.startswith(f"Stop {i + 1} of"), 60)
        if i < stop_index:
            by(driver, "#btn-next").click()


def test_tour_stops_before_step_10_and_goes_on(srv: ServeHandle, driver: Any) -> None:
    open_seat(driver, srv, tab="call")
    mark = len(events(driver))
    by(driver, "#btn-tour").click()
    _tour_until(driver, 2, mark)
    assert "Step 10:" in by(driver, "#tour-next").text
    assert "permission" in by(driver, "#tour-says").text
    assert srv.seats.seats[1].halt is not None and srv.seats.seats[1].halt["event"] == "allocated"
    driver.save_screenshot(str(screenshots() / "tour.png"))
    for i in range(2, 8):
        wait(driver, lambda d, i=i: by(d, "#tour-title").text.startswith(f"Stop {i + 1} of"))
        by(driver, "#btn-next").click()
    wait_event(driver, "report", mark)
    assert by(driver, "#verdict-summary").text.startswith("PASS")
    idle(srv)


@pytest.mark.timeout(300)  # after the cut, the client's BYE waits out SIP timer F (32 s)
def test_tour_broken_at_step_17_reads_the_diagnosis(srv: ServeHandle, driver: Any) -> None:
    open_seat(driver, srv, tab="call")
    mark = len(events(driver))
    by(driver, "#btn-tour").click()
    _tour_until(driver, 4, mark)
    assert "Step 17:" in by(driver, "#tour-next").text
    by(driver, "#tour-fault").send_keys("cut: {link: sfb-edge:external}")
    by(driver, "#btn-break").click()
    wait_event(driver, "report", mark, 240)
    summary = by(driver, "#verdict-summary").text
    assert summary.startswith("FAIL"), summary
    assert "17" in summary
    diagnosis = by(driver, "#diagnosis").text
    assert "sfb-edge:external" in by(driver, "#verdict").text  # the fault, as applied
    assert diagnosis and diagnosis != "nothing went wrong"
    driver.save_screenshot(str(screenshots() / "tour-broken.png"))
    driver.execute_script("document.getElementById('after').scrollIntoView()")
    driver.save_screenshot(str(screenshots() / "diagnosis.png"))
    idle(srv)


def test_firewall_check_shows_the_rule_that_blocks_f5(srv: ServeHandle, driver: Any) -> None:
    open_seat(driver, srv, tab="firewall")
    area = by(driver, "#fw-inside")
    area.clear()
    bad = "table inet x {\n  chain c {\n    bogus\n  }\n}\n"
    driver.execute_script("arguments[0].value = arguments[1];"
                          "arguments[0].dispatchEvent(new Event('input'))", area, bad)
    by(driver, "#btn-check").click()
    wait(driver, lambda d: by(d, "#err-fw-inside").is_displayed(), 30)
    assert by(driver, "#gutter-fw-inside .badline").text  # the offending line is marked
    idle(srv)
    text = (DATA / "policies" / "inside-3478-udp-only.nft").read_text()
    driver.execute_script("arguments[0].value = arguments[1];"
                          "arguments[0].dispatchEvent(new Event('input'))", area, text)
    by(driver, "#btn-check").click()
    wait(driver, lambda d: d.find_elements("css selector", '#fw-flows tr[data-flow="F5"]'), 180)
    row = by(driver, '#fw-flows tr[data-flow="F5"]').text
    assert "blocked" in row
    assert "policy drop of inet vcfw forward" in row  # the deciding rule, as the CLI says
    assert "TURN Allocate" in row  # the ladder step where the call broke
    driver.save_screenshot(str(screenshots() / "firewall.png"))
    idle(srv)


def test_second_seats_token_refused_on_the_first_seats_pages(srv: ServeHandle,
                                                              driver: Any) -> None:
    other = srv.seats.seats[2].token
    driver.get(srv.seat_url(1, token=other))
    assert "does not open seat 1" in by(driver, "body").text
    for path in ("/api/seat/1/state", "/api/seat/1/events", "/api/seat/1/download/json"):
        req = urllib.request.Request(srv.base + path, headers={"X-Uclab-Token": other})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 403
    driver.get(srv.trainer_url())
    wait(driver, lambda d: len(d.find_elements("css selector", "#seats tbody tr")) == 2, 20)
    driver.save_screenshot(str(screenshots() / "trainer.png"))


@pytest.fixture
def attacker(srv: ServeHandle) -> Iterator[str]:
    """A page on another origin that posts to seat 1, as a cross-site attack would (a form,
    and a script with the seat's token in the header)."""
    token = srv.seats.seats[1].token
    target = f"{srv.base}/api/seat/1/up"
    page = f"""<!doctype html><html><body>
<form id="f" method="post" action="{target}" enctype="text/plain">
<input name='{{"x":"' value='"}}'></form>
<script>
window.results = [];
fetch("{target}", {{method: "POST", mode: "cors", headers: {{"X-Uclab-Token": "{token}",
  "Content-Type": "application/json"}}, body: "{{}}"}})
  .then(r => window.results.push("fetch " + r.status), e => window.results.push("fetch blocked"))
  .finally(() => document.getElementById("f").submit());
</script></body></html>"""
    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "localhost", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{port}/"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_cross_site_post_refused(srv: ServeHandle, driver: Any, attacker: str) -> None:
    driver.get(attacker)
    wait(driver, lambda d: "refused" in d.find_element("css selector", "body").text, 20)
    assert "cross-site request refused (Origin http://localhost:" in by(driver, "body").text
    time.sleep(0.5)
    seat = srv.seats.seats[1]
    assert seat.job is None and not RunDir(seat.lab).path.exists()
