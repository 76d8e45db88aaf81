"""The one wait every asyncio adapter's timer loop makes over its sans-I/O core: until the core's
next deadline (``next_deadline()``, None: none pending) or until the adapter wakes it because
something it did may have moved that deadline (the core keeps the time as data, the adapter only
sleeps)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


async def sleep_until(deadline: float | None, clock: Callable[[], float],
                      wake: asyncio.Event) -> None:
    """Return at ``deadline`` (on ``clock``'s scale) or as soon as ``wake`` is set, whichever
    comes first; ``wake`` is cleared first, so only a wake after the deadline was read counts."""
    delay = None if deadline is None else max(0.0, deadline - clock())
    wake.clear()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(delay):
            await wake.wait()
