"""One tcpdump per interface of every node, started inside the node's namespace before any
daemon, stopped cleanly (SIGINT: tcpdump flushes and prints its statistics), then merged.

    cap = LabCapture.for_lab("uclab", ["sfb-edge", "expressway-e", "cms"], run_dir)
    cap.start()                    # returns once every tcpdump says "listening on"
    ...                            # the scenario runs
    stats = cap.stop()             # per-interface captured / dropped counts
    cap.merge(run_dir / "captures" / "run.pcapng", keylog=run_dir / "pki" / "keylog.txt")

tcpdump itself is started by :func:`lab.kernel.capture.start_tcpdump` (only the kernel module runs
it).
"""

from __future__ import annotations

import contextlib
import logging
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from lab.base import interrupts
from lab.base.errors import LabError
from lab.capture.merge import MergeResult, Part, merge_parts
from lab.kernel import capture

log = logging.getLogger(__name__)

_STATS = re.compile(rb"(\d+) packets? (captured|received by filter|dropped by kernel)")


@dataclass
class PartStats:
    """What tcpdump reported for one interface when it stopped."""

    name: str
    captured: int | None = None
    dropped: int | None = None


@dataclass
class _Running:
    part: Part
    namespace: str
    proc: subprocess.Popen[bytes]
    stderr: bytearray = field(default_factory=bytearray)
    ready: bool = False


class LabCapture:
    """Captures of every interface of a set of nodes (``node -> namespace``)."""

    def __init__(self, folder: Path, namespaces: Mapping[str, str], *,
                 include_loopback: bool = False, prefix: str = "") -> None:
        self.folder = folder
        self.namespaces = dict(namespaces)
        self.include_loopback = include_loopback
        self.prefix = prefix
        self._running: list[_Running] = []
        self.parts: list[Part] = []
        self.stats: list[PartStats] = []

    @classmethod
    def for_lab(cls, lab: str, nodes: Iterable[str], run_dir: Path) -> LabCapture:
        """The captures of lab ``lab`` (namespace ``<lab>-<node>``, files in ``captures/``);
        with a topology: ``LabCapture.for_lab(lab, topo.namespaces(lab), run_dir)``."""
        return cls(run_dir / "captures", {n: f"{lab}-{n}" for n in nodes})

    # --- start ------------------------------------------------------------------------------

    def start(self, timeout: float = 5.0) -> None:
        """Start every capture and wait until each is listening; on failure stop them all and
        raise :class:`LabError` naming the interface and tcpdump's message."""
        if self._running:
            raise LabError("the capture is already running")
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            for node, ns in self.namespaces.items():
                for iface in capture.netns_links(ns):
                    if iface == "lo" and not self.include_loopback:
                        continue
                    self._spawn(node, ns, iface)
            self._wait_ready(time.monotonic() + timeout)
        except BaseException:
            self._terminate_all()
            raise

    def _spawn(self, node: str, ns: str, iface: str) -> None:
        path = self.folder / f"{self.prefix}{node}_{iface}.pcap"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        part = Part(f"{node}:{iface}", path, f"namespace {ns}")
        with interrupts.deferred():  # on the list stop() and a rollback go through first
            self._running.append(_Running(part, ns, capture.start_tcpdump(ns, iface, path)))

    def _wait_ready(self, deadline: float) -> None:
        with selectors.DefaultSelector() as sel:
            for run in self._running:
                assert run.proc.stderr is not None
                sel.register(run.proc.stderr, selectors.EVENT_READ, run)
            waiting = len(self._running)
            while waiting:
                left = deadline - time.monotonic()
                if left <= 0:
                    late = [r.part.name for r in self._running if not r.ready]
                    raise LabError(f"tcpdump did not start listening on {', '.join(late)}")
                for key, _ in sel.select(left):
                    run = key.data
                    chunk = key.fileobj.read1(4096)  # type: ignore[union-attr]
                    run.stderr += chunk
                    if b"listening on" in run.stderr:
                        run.ready = True
                    elif not chunk:  # tcpdump exited before listening
                        msg = run.stderr.decode(errors="replace").strip()
                        raise LabError(f"tcpdump failed on {run.part.name}: {msg}")
                    else:
                        continue
                    sel.unregister(key.fileobj)
                    waiting -= 1

    # --- stop -------------------------------------------------------------------------------

    def stop(self, settle: float = 0.02, timeout: float = 3.0) -> list[PartStats]:
        """Stop every capture with SIGINT after ``settle`` seconds (packets still in flight reach
        tcpdump), wait for each to flush its file, and return its statistics."""
        if not self._running:
            return self.stats
        time.sleep(settle)
        for run in self._running:
            if run.proc.poll() is None:
                run.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for run in self._running:
            try:
                _out, err = run.proc.communicate(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("tcpdump on %s ignored SIGINT; killed", run.part.name)
                run.proc.kill()
                _out, err = run.proc.communicate()
            run.stderr += err or b""
            self.stats.append(_parse_stats(run.part.name, bytes(run.stderr)))
            self.parts.append(run.part)
        self._running.clear()
        dropped = [s for s in self.stats if s.dropped]
        for s in dropped:
            log.warning("the kernel dropped %s packets on %s", s.dropped, s.name)
        return self.stats

    def _terminate_all(self) -> None:
        for run in self._running:
            if run.proc.poll() is None:
                run.proc.terminate()
        for run in self._running:
            try:
                run.proc.communicate(timeout=2)
            except subprocess.TimeoutExpired:
                run.proc.kill()
                run.proc.communicate()
        self._running.clear()

    # --- merge ------------------------------------------------------------------------------

    def merge(self, out: Path, keylog: Path | bytes | None = None, *,
              order: str = "interface") -> MergeResult:
        """One pcapng of every interface (``node:iface``) with the TLS key log embedded."""
        if self._running:
            raise LabError("stop the capture before merging it")
        if not self.parts:
            raise LabError("nothing was captured: start() and stop() the capture first")
        secrets = b""
        if isinstance(keylog, bytes):
            secrets = keylog
        elif keylog is not None and keylog.exists():
            secrets = keylog.read_bytes()
        return merge_parts(self.parts, out, secrets, order=order)

    def __enter__(self) -> LabCapture:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _parse_stats(name: str, stderr: bytes) -> PartStats:
    stats = PartStats(name)
    for number, what in _STATS.findall(stderr):
        if what == b"captured":
            stats.captured = int(number)
        elif what == b"dropped by kernel":
            stats.dropped = int(number)
    return stats
