"""Helpers for the web UI's tests: ``uclab serve`` in a thread, Debian's headless Chromium.

    with served(seats=2) as srv:        # ServeHandle: base URL, the app's seats, stop()
        with browser() as driver:       # Selenium on /usr/bin/chromium + /usr/bin/chromedriver
            driver.get(srv.seat_url(1))
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from lab.web.routes import SEATS
from lab.web.seats import Seats
from lab.web.server import ServeConfig, run_server
from tests.labhelp import lab_name

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServeHandle:
    base: str
    seats: Seats
    removed: list[str] = field(default_factory=list)

    def seat_url(self, number: int, token: str | None = None) -> str:
        seat = self.seats.seats[number]
        return f"{self.base}/seat/{number}?token={token or seat.token}"

    def trainer_url(self) -> str:
        return f"{self.base}/trainer?token={self.seats.trainer_token}"


@contextlib.contextmanager
def served(seats: int | None = None, *, max_runs: int = 2, name: str | None = None
           ) -> Iterator[ServeHandle]:
    """``uclab serve`` on a free loopback port in a thread of its own; stopped (its labs
    removed) on the way out."""
    port = free_port()
    base_name = name or lab_name()
    config = ServeConfig.from_args(f"127.0.0.1:{port}", seats, base_name, max_runs)
    ready = threading.Event()
    box: dict[str, Any] = {}
    loop = asyncio.new_event_loop()
    stop_holder: dict[str, asyncio.Event] = {}

    def started(app: Any) -> None:
        box["seats"] = app[SEATS]
        ready.set()

    async def main() -> None:
        stop_holder["stop"] = asyncio.Event()
        try:
            box["removed"] = await run_server(config, lambda _line: None, stop_holder["stop"],
                                              signals=False, started=started)
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            raise

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    if not ready.wait(20) or "error" in box:
        raise RuntimeError(f"uclab serve did not start: {box.get('error')}")
    handle = ServeHandle(f"http://127.0.0.1:{port}", box["seats"])
    try:
        yield handle
    finally:
        loop.call_soon_threadsafe(stop_holder["stop"].set)
        thread.join(120)
        handle.removed = box.get("removed", [])
        loop.close()


@contextlib.contextmanager
def browser(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def screenshots() -> Path:
    """Where the tests keep their screenshots (``UCLAB_SCREENSHOTS``, else build/screenshots)."""
    folder = Path(os.environ.get("UCLAB_SCREENSHOTS",
                                 Path(__file__).resolve().parent.parent / "build" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
