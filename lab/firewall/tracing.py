"""Tracing a running lab's firewalls for the duration of a run, whoever makes the traffic.

    with TraceSession("uclab", ["fw-outside", "fw-inside", "sfb-nat"]) as session:
        ...                                   # the screen share, connection attempts, probes
        traces = session.stop()               # {node: [PacketTrace, ...]}

:meth:`TraceSession.start` loads the lab-owned table :data:`TRACE_TABLE` beside the user's
policy in each node's namespace. Its ``prerouting`` chain, right after conntrack (priority
-199), sets ``meta nftrace set 1`` on packets of new connections (``ct state new``), so every
later chain the packet meets (the policy's ``forward`` chain, iptables-nft's ``FORWARD``, a
``prerouting`` drop) reports the rule that decided; it also marks each TCP answer (SYN+ACK in
the reply direction), so that a policy that lets the SYN through but drops the answer (no
``established`` rule) is caught. Its ``output`` chain marks the session's
own loopback datagrams to 127.0.0.1:9, which prove that the monitor is listening (start) and
has read everything sent before (stop). One ``nft -a monitor trace`` per namespace, bounded by
``limit`` seconds, is stopped cleanly by :meth:`stop` (or by leaving the ``with`` block).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from types import TracebackType

from lab.base.errors import LabError
from lab.base.names import namespace
from lab.firewall.trace import TRACE_TABLE, PacketTrace, parse
from lab.kernel import nftables
from lab.kernel.setns import run_in_netns

log = logging.getLogger(__name__)

MARKER_PORT = 9
MARKER_WAIT = 3.0
SETTLE = 0.1  # packets sent just before stop() are still in softirq queues

TRACE_RULESET = f"""\
# uclab: the firewall check's tracing table (lab/firewall/tracing.py). Not part of any policy.
table inet {TRACE_TABLE}
delete table inet {TRACE_TABLE}
table inet {TRACE_TABLE} {{
\tchain prerouting {{
\t\ttype filter hook prerouting priority -199; policy accept;
\t\tct state new meta nftrace set 1 comment "uclab: trace new connections"
\t\tct direction reply tcp flags & (syn | ack) == syn | ack meta nftrace set 1 \\
\t\t\tcomment "uclab: trace their answers"
\t}}
\tchain output {{
\t\ttype filter hook output priority -300; policy accept;
\t\tip daddr 127.0.0.1 udp dport {MARKER_PORT} meta nftrace set 1 comment "uclab: markers"
\t}}
}}
"""
REMOVE_RULESET = f"table inet {TRACE_TABLE}\ndelete table inet {TRACE_TABLE}\n"


class _Monitor:
    """One ``nft monitor trace`` and the thread reading its lines."""

    def __init__(self, ns: str, limit: float) -> None:
        self.ns = ns
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.proc = nftables.start_trace_monitor(ns, limit)
        self.reader = threading.Thread(target=self._read, name=f"trace:{ns}", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()

    def mark(self) -> None:
        """Send marker datagrams inside the namespace (one every 0.1 s: the monitor may still
        be subscribing) until the monitor prints one of them, at most :data:`MARKER_WAIT` s."""

        def send() -> int:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                s.sendto(b"uclab-trace-marker", ("127.0.0.1", MARKER_PORT))
                return int(s.getsockname()[1])

        needles: list[str] = []
        deadline = time.monotonic() + MARKER_WAIT
        while time.monotonic() < deadline:
            port = run_in_netns(self.ns, send, timeout=5)
            needles.append(f"udp sport {port} udp dport {MARKER_PORT}")
            with self.changed:
                if self.changed.wait_for(
                        lambda: any(n in ln for ln in self.lines[-50:] for n in needles), 0.1):
                    return
        raise LabError(f"nft monitor trace in {self.ns} did not report the lab's marker "
                       f"packets within {MARKER_WAIT} s (exit status {self.proc.poll()})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


class TraceSession:
    """Trace new connections through ``nodes`` of lab ``lab`` (see the module's docstring)."""

    def __init__(self, lab: str, nodes: Sequence[str], *, limit: float = 120.0) -> None:
        self.lab = lab
        self.nodes = tuple(nodes)
        self.limit = limit
        self._monitors: dict[str, _Monitor] = {}
        self._traces: dict[str, list[PacketTrace]] | None = None

    def start(self) -> TraceSession:
        """Load the tracing table, start the monitors, wait until each one listens."""
        nftables.load([nftables.NftJob(namespace(self.lab, n), text=TRACE_RULESET)
                         for n in self.nodes])
        try:
            for node in self.nodes:
                self._monitors[node] = _Monitor(namespace(self.lab, node), self.limit)
            for m in self._monitors.values():
                m.mark()
        except BaseException:
            self._stop_all()
            raise
        return self

    def stop(self) -> dict[str, list[PacketTrace]]:
        """Read everything traced so far, stop the monitors; per node, the traced packets."""
        if self._traces is not None:
            return self._traces
        try:
            time.sleep(SETTLE)
            for m in self._monitors.values():
                m.mark()
        finally:
            self._stop_all()
        self._traces = {node: parse(m.lines) for node, m in self._monitors.items()}
        return self._traces

    def snapshot(self) -> dict[str, list[PacketTrace]]:
        """Everything traced so far, the monitors still running (each has read up to a fresh
        marker): what the traffic did, before the check adds its own attempts."""
        time.sleep(SETTLE)
        for m in self._monitors.values():
            m.mark()
        return {node: parse(list(m.lines)) for node, m in self._monitors.items()}

    def lines(self, node: str) -> list[str]:
        """The raw trace lines of ``node`` (for saving alongside a report)."""
        return list(self._monitors[node].lines)

    def remove_table(self) -> None:
        """Delete the tracing table again (when the lab lives on after the session)."""
        nftables.load([nftables.NftJob(namespace(self.lab, n), text=REMOVE_RULESET)
                         for n in self.nodes])

    def _stop_all(self) -> None:
        for m in self._monitors.values():
            with contextlib.suppress(OSError):
                m.stop()

    def __enter__(self) -> TraceSession:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._traces is None:
            self._stop_all()
