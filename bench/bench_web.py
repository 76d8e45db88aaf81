"""How fast ``uclab serve`` shows the call: the delay from a message on the wire to its arrow in
a real browser, the page load, and 30 seats served at once with one share each. As root:

    nice -n 10 .venv/bin/python bench/bench_web.py [--shares 3] [--seats 30] [--max-runs 4]

1. Wire to arrow: Debian's headless Chromium opens a seat and runs ``--shares`` screen shares;
   the page records, for each arrow that appears while the call runs, its capture time (the
   packet's timestamp, from tcpdump) and the time it was drawn (same clock, same machine).
   Reported per kind: TURN, ICE, TCP and media arrows, and SIP arrows (their TLS 1.3 records
   opened in-process with the key log, lab.web.tls13). Reference, same run: the same arrows as
   they would appear without the live view, when the call's report comes (the ladder computed
   after the call, as ``uclab run`` does). Goal: under 300 ms at the median.
2. Page load: navigation to the first event-stream message (the page's state), against a
   plain GET of the page's script by urllib (the server's floor).
3. Seats: a server with ``--seats`` seats; each seat gets one share at once, ``--max-runs``
   calls at a time (the rest wait their turn); every seat's event stream is followed; the
   seats' ``state`` requests are timed meanwhile and against the idle server. Bounded: at most
   ``--deadline`` seconds, then it stops and says how far it got.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.webhelp import ServeHandle, browser, served  # noqa: E402

TOKEN = "X-Uclab-Token"


def _post(srv: ServeHandle, seat: int, path: str, body: dict[str, Any]) -> int:
    req = urllib.request.Request(f"{srv.base}/api/seat/{seat}/{path}",
                                 data=json.dumps(body).encode(),
                                 headers={TOKEN: srv.seats.seats[seat].token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(r.status)


def _get_ms(url: str, headers: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                timeout=30) as r:
        r.read()
    return (time.perf_counter() - t0) * 1000


def _q(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def wire_to_arrow(shares: int) -> None:
    parts: dict[str, list[float]] = {"server (wire to pushed)": [],
                                      "stream (pushed to received)": [],
                                      "page (received to drawn)": []}
    live_fast: list[float] = []
    live_sip: list[float] = []
    after: list[float] = []
    loads: list[float] = []
    floor: list[float] = []
    with served(seats=None) as srv, browser() as d:
        for i in range(shares):
            t0 = time.perf_counter()
            d.get(srv.seat_url(1))
            _wait(d, "return window.uclabEvents.includes('state')", 20)
            loads.append((time.perf_counter() - t0) * 1000)
            floor.append(_get_ms(f"{srv.base}/static/seat.js"))
            d.find_element("css selector", "#tab-call").click()
            _wait(d, "return document.querySelectorAll('#scenario option').length > 0", 20)
            d.execute_script("window.uclabDelays = []; window.uclabEvents = [];")
            d.find_element("css selector", "#btn-run").click()
            _wait(d, "return window.uclabEvents.includes('report')", 120)
            delays = d.execute_script("return window.uclabDelays")
            got = float(d.execute_script("return Date.now() / 1000"))
            report_epochs = d.execute_script(
                "return [...document.querySelectorAll('#ladder g.arrow')].length")
            for x in delays:
                if x["sent"]:
                    parts["server (wire to pushed)"].append((x["sent"] - x["wire"]) * 1000)
                    parts["stream (pushed to received)"].append((x["got"] - x["sent"]) * 1000)
                    parts["page (received to drawn)"].append((x["drawn"] - x["got"]) * 1000)
                (live_sip if _is_sip(x["label"]) else live_fast).append(
                    (x["drawn"] - x["wire"]) * 1000)
                after.append((got - x["wire"]) * 1000)
            print(f"share {i + 1}: {len(delays)} arrows live, {report_epochs} in the report")
            while srv.seats.seats[1].job is not None:
                time.sleep(0.1)
    print("\n1. wire to arrow (ms, capture timestamp to drawn in Chromium)")
    for name, xs in (("fast pass (TURN, ICE, TCP, media)", live_fast),
                     ("SIP (TLS opened in-process)", live_sip),
                     ("all live arrows", live_fast + live_sip),
                     ("reference: the report after the call", after)):
        print(f"   {name:40s} n={len(xs):4d} median {_q(xs, 0.5):8.0f}  p90 {_q(xs, 0.9):8.0f}")
    for name, xs in parts.items():
        print(f"     of which {name:32s} median {_q(xs, 0.5):8.0f}  p90 {_q(xs, 0.9):8.0f}")
    live = live_fast + live_sip
    if live and after:
        print(f"   ratio live median / after-the-call median: "
              f"{_q(live, 0.5) / _q(after, 0.5):.2f}")
    print("\n2. page load (ms, navigation to the page's first event)")
    print(f"   seat page median {statistics.median(loads):.0f}  (first load {loads[0]:.0f}); "
          f"reference GET of seat.js {statistics.median(floor):.1f}; ratio "
          f"{statistics.median(loads) / statistics.median(floor):.0f}")


def _is_sip(label: str) -> bool:
    return label.split(" ", 1)[0] in {"INVITE", "re-INVITE", "ACK", "BYE", "100", "180", "200",
                                   "CANCEL", "OPTIONS"} or label[:1].isdigit()


def _wait(d: Any, script: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not d.execute_script(script):
        if time.monotonic() > deadline:
            raise TimeoutError(script)
        time.sleep(0.05)


def _follow(srv: ServeHandle, seat: int, counts: dict[int, int], stop: threading.Event) -> None:
    url = f"{srv.base}/api/seat/{seat}/events?token={srv.seats.seats[seat].token}"
    try:
        with urllib.request.urlopen(url, timeout=900) as r:
            for line in r:
                if line.startswith(b"event:"):
                    counts[seat] = counts.get(seat, 0) + 1
                if stop.is_set():
                    return
    except OSError:
        return


def many_seats(seats: int, max_runs: int, deadline: float) -> None:
    with served(seats=seats, max_runs=max_runs) as srv:
        def state(n: int) -> float:
            return _get_ms(f"{srv.base}/api/seat/{n}/state", {TOKEN: srv.seats.seats[n].token})

        idle = [state(1 + i % seats) for i in range(20)]
        stop = threading.Event()
        counts: dict[int, int] = {}
        followers = [threading.Thread(target=_follow, args=(srv, n, counts, stop), daemon=True)
                     for n in range(1, seats + 1)]
        for t in followers:
            t.start()
        time.sleep(0.5)
        t0 = time.perf_counter()
        for n in range(1, seats + 1):
            _post(srv, n, "run", {"scenario": "screen-share"})
        busy: list[float] = []
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if all(s.job is None and s.report is not None for s in srv.seats):
                break
            busy.append(state(1 + len(busy) % seats))
            time.sleep(0.2)
        wall = time.perf_counter() - t0
        reports = [s.report for s in srv.seats]
        done = [r for r in reports if r is not None]
        passed = [r for r in done if r.get("verdict", {}).get("passed")]
        stop.set()
        print(f"\n3. {seats} seats, one share each, {max_runs} calls at a time")
        print(f"   {len(done)}/{seats} calls reported, {len(passed)} PASS, in {wall:.1f} s "
              f"({wall / max(1, len(done)):.2f} s per call through {max_runs} slots)")
        bad = [(s.number, (s.report or {}).get("verdict", {}).get("summary"), s.error)
               for s in srv.seats if not (s.report or {}).get("verdict", {}).get("passed")]
        for row in bad[:5]:
            print(f"   not passed: seat {row[0]}: {row[1]} {row[2] or ''}")
        print(f"   events pushed: {sum(counts.values())} to {len(counts)} streams")
        print(f"   state request ms: idle median {statistics.median(idle):.0f}, during the load "
              f"median {_q(busy, 0.5):.0f} p95 {_q(busy, 0.95):.0f} (ratio "
              f"{_q(busy, 0.5) / statistics.median(idle):.1f})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shares", type=int, default=3)
    p.add_argument("--seats", type=int, default=30)
    p.add_argument("--max-runs", type=int, default=4)
    p.add_argument("--deadline", type=float, default=600.0)
    p.add_argument("--skip-seats", action="store_true")
    args = p.parse_args()
    wire_to_arrow(args.shares)
    if not args.skip_seats:
        many_seats(args.seats, args.max_runs, args.deadline)


if __name__ == "__main__":
    main()
