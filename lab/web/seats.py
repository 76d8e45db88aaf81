"""Seats: one lab per trainee, each behind its own secret token, and each seat's event stream.

A seat's token is 128 bits from :mod:`secrets`; it is compared with :func:`hmac.compare_digest`
and only ever gives access to its own seat. The trainer's token reads every seat's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.base.names import check_lab_name

Json = dict[str, Any]
QUEUE = 256  # events buffered per browser; a browser that falls further behind is dropped


def new_token() -> str:
    return secrets.token_urlsafe(16)


class Hub:
    """Fan-out of a seat's events to every browser that listens (Server-Sent Events)."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[str | None]] = set()

    def publish(self, kind: str, data: Json) -> None:
        text = f"event: {kind}\ndata: {json.dumps(data)}\n\n"
        for q in list(self._queues):
            try:
                q.put_nowait(text)
            except asyncio.QueueFull:  # too slow: it reconnects and gets the state again
                self._queues.discard(q)
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(None)

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[str | None]]:
        q: asyncio.Queue[str | None] = asyncio.Queue(QUEUE)
        self._queues.add(q)
        try:
            yield q
        finally:
            self._queues.discard(q)

    def close(self) -> None:
        for q in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)

    @property
    def listeners(self) -> int:
        return len(self._queues)


@dataclass
class Seat:
    number: int
    token: str
    lab: str
    work: Path  # downloads of the last run
    hub: Hub = field(default_factory=Hub)
    job: str | None = None  # "up", "down", "run", "tour", "firewall" while one runs
    built: bool = False  # this server brought the lab up (and takes it down)
    live: Json = field(default_factory=dict)  # the live ladder as last pushed
    report: Json | None = None  # the last call's report
    firewall: Json | None = None  # the last firewall check's report or error
    halt: Json | None = None  # the tour's current stop
    error: str | None = None
    files: dict[str, Path] = field(default_factory=dict)
    tour: Any = None  # lab.run.tour.Tour while a tour runs

    def summary(self) -> Json:
        return {"seat": self.number, "lab": self.lab, "job": self.job, "built": self.built,
                "verdict": (self.report or {}).get("verdict"), "halt": self.halt,
                "error": self.error, "listeners": self.hub.listeners}


class Seats:
    """The seats of one server and the trainer's token."""

    def __init__(self, labs: list[str], work: Path) -> None:
        for lab in labs:
            check_lab_name(lab)
        self.trainer_token = new_token()
        self.seats = {i: Seat(i, new_token(), lab, work / f"seat{i}")
                      for i, lab in enumerate(labs, 1)}

    def get(self, number: int, token: str) -> Seat | None:
        """The seat ``number`` if ``token`` is its token (never another seat's)."""
        seat = self.seats.get(number)
        if seat is None or not hmac.compare_digest(seat.token.encode(), token.encode()):
            return None
        return seat

    def is_trainer(self, token: str) -> bool:
        return hmac.compare_digest(self.trainer_token.encode(), token.encode())

    def __iter__(self) -> Any:
        return iter(self.seats.values())
