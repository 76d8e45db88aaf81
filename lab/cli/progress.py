"""A progress bar on stderr for long reads (a capture of gigabytes): one line, rewritten in
place, only on a terminal and only for files large enough to take a while."""

from __future__ import annotations

import sys
import time
from typing import TextIO

MIN_SIZE = 64 << 20  # smaller files are read in a second or two: no bar
WIDTH = 30


class ProgressBar:
    """Call with (bytes read, total); draws at most every ``every`` seconds, ends the line
    when done."""

    def __init__(self, label: str, stream: TextIO | None = None, *, force: bool = False,
                 every: float = 0.25, min_size: int = MIN_SIZE) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = force or self.stream.isatty()
        self.every = every
        self.min_size = min_size
        self._start = time.monotonic()
        self._last = 0.0
        self._done = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or self._done or total < self.min_size:
            return
        now = time.monotonic()
        finished = done >= total
        if not finished and now - self._last < self.every:
            return
        self._last = now
        share = min(1.0, done / total) if total else 1.0
        bar = "#" * int(share * WIDTH)
        self.stream.write(f"\r{self.label} [{bar:<{WIDTH}}] {share:4.0%} "
                          f"{done / 1e6:,.0f} of {total / 1e6:,.0f} MB, "
                          f"{now - self._start:.1f} s")
        if finished:
            self.stream.write("\n")
            self._done = True
        self.stream.flush()
