"""Driving an interactive program through a pseudo-terminal, as a person at a terminal does:
type a line once the prompt is shown, read what it printed up to the next prompt."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Sequence

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


class PtySession:
    """A process on a pseudo-terminal; :meth:`command` types a line and returns the output."""

    def __init__(self, argv: Sequence[str], prompt: bytes, *, env: dict[str, str] | None = None,
                 cwd: str | None = None) -> None:
        self.prompt = prompt
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave,
                                     env=env, cwd=cwd, start_new_session=True)
        os.close(slave)
        self.fd = master
        self.transcript = b""

    def read_until(self, marker: bytes, timeout: float) -> bytes:
        """Everything printed until ``marker`` (not included); AssertionError after
        ``timeout`` seconds or if the program ends first, with what it printed."""
        out = b""
        deadline = time.monotonic() + timeout
        while marker not in out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} within {timeout} s; output:\n"
                                     f"{self.text(out)}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # EIO: the program ended
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the program ended (exit {self.proc.wait()}) before "
                                         f"{marker!r}; output:\n{self.text(out)}")
                out += chunk
                self.transcript += chunk
        head, _, _ = out.partition(marker)
        return head

    def command(self, line: str, timeout: float = 30) -> str:
        """Type ``line`` and return what it printed before the next prompt (no echo)."""
        os.write(self.fd, line.encode() + b"\n")
        out = self.read_until(self.prompt, timeout)
        text = self.text(out)
        return text.split("\n", 1)[1] if text.startswith(line) else text

    def finish(self, line: str, timeout: float = 60) -> int:
        """Type ``line`` (``exit``) and wait for the program to end; its exit code."""
        os.write(self.fd, line.encode() + b"\n")
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                try:
                    self.transcript += os.read(self.fd, 65536)
                except OSError:
                    break
        return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.fd)

    @staticmethod
    def text(raw: bytes) -> str:
        return _ANSI.sub(b"", raw).decode(errors="replace").replace("\r\n", "\n")
