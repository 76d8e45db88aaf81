"""The node daemons of a lab: PKI, configuration, start in their namespaces, readiness, health.

Two steps of ``uclab up`` (:data:`lab.lifecycle.build.STEPS`):

* ``pki``: the lab's CA and one certificate per daemon node naming its addresses
  (:mod:`lab.base.pki`), in ``<run>/pki/``, with the TLS key log ``<run>/pki/keylog.txt``;
* ``daemons``: ``<run>/config/<node>.json`` for each daemon node (:mod:`lab.daemons.config`),
  then every daemon started in its node's namespace *at once* (:mod:`nodes.forkserver` imports
  the stacks once and forks one ``nodes.<role>`` daemon per node), each recorded (pid + start
  time) before it starts, logging to ``<run>/logs/<node>.log``; the step returns
  when every daemon's control socket ``<run>/control/<node>.sock`` accepts (the readiness
  signal), and fails with the daemon's last log lines if one dies or is not ready in time.

``uclab down`` stops them with everything else in the namespaces; :func:`health` tells
``uclab status`` which daemon is dead and what it last logged.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lab.base import interrupts
from lab.base.errors import LabError
from lab.base.state import DAEMON_RECORD, LabState, Record, RunDir
from lab.daemons.config import DaemonConfig, config_for, daemon_nodes
from lab.daemons.control import reachable
from lab.daemons.launcher import Launcher, take
from lab.kernel import processes
from lab.runtime import NodeHandle, NodeRuntime
from lab.topology import Topology

log = logging.getLogger(__name__)

START_TIMEOUT = 15.0  # seconds for every daemon to become ready (2 cores, 5 interpreters)
POLL = 0.005
LOG_LINES = 12
PROGRESS_AFTER, PROGRESS_EVERY = 2.0, 5.0  # a long wait is told after 2 s, then every 5 s
LABEL = DAEMON_RECORD


class BuildContext(Protocol):
    """What the daemon steps need of the lab being built
    (:class:`lab.lifecycle.context.BuildContext` is one)."""

    @property
    def lab(self) -> str: ...
    @property
    def topology(self) -> Topology: ...
    @property
    def state(self) -> LabState: ...
    @property
    def runtime(self) -> NodeRuntime: ...
    @property
    def run(self) -> RunDir: ...
    @property
    def progress(self) -> Callable[[str], None] | None: ...
    def node(self, node: str) -> NodeHandle: ...
    def ns(self, node: str) -> str: ...


def make_pki(ctx: BuildContext) -> None:
    """The ``pki`` step: CA and node certificates (subjectAltName: node name and addresses)."""
    from lab.base import pki  # noqa: PLC0415 - cryptography only when a lab is built

    lab_pki = pki.create_ca(ctx.run.pki, ctx.lab)
    for node in daemon_nodes(ctx.topology):
        pki.issue(lab_pki, node.name, [str(a) for a in node.addresses])


def write_configs(ctx: BuildContext, *, time_scale: float = 1.0) -> list[DaemonConfig]:
    configs = [config_for(ctx.topology, ctx.lab, ctx.run, n.name, time_scale=time_scale)
               for n in daemon_nodes(ctx.topology)]
    for cfg in configs:
        ctx.run.config(cfg.node).write_text(cfg.to_json())
    return configs


def daemon_argv(cfg: DaemonConfig, run: RunDir) -> list[str]:
    """How to run one daemon by hand (inside ``ip netns exec <lab>-<node>``)."""
    return [sys.executable, "-m", cfg.module, "--config", str(run.config(cfg.node)),
            "--control", cfg.control]


def start_daemons(ctx: BuildContext, *, timeout: float = START_TIMEOUT,
                  time_scale: float = 1.0) -> None:
    """The ``daemons`` step: every daemon at once, each recorded before it starts; returns
    when all are ready. Nodes that share the host's file system get theirs forked by one
    interpreter (:mod:`nodes.forkserver`); others get each started inside by the runtime."""
    configs = write_configs(ctx, time_scale=time_scale)
    launcher = take(ctx.lab)
    if not configs:
        launcher.close()
        return
    ctx.state.daemons = [cfg.node for cfg in configs]  # what health() expects from now on
    records = {cfg.node: ctx.state.add(Record("process", LABEL + cfg.node, ns=ctx.ns(cfg.node),
                                              argv=daemon_argv(cfg, ctx.run)))
               for cfg in configs}
    if ctx.runtime.shares_host_filesystem:
        _fork_all(ctx, configs, records, launcher, timeout)
    else:
        launcher.close()
        for cfg in configs:
            proc = ctx.runtime.spawn(ctx.node(cfg.node), daemon_argv(cfg, ctx.run),
                                     ctx.run.log(cfg.node))
            ctx.state.confirm(records[cfg.node], pid=proc.pid, start=proc.start)
    wait_ready(ctx.run, records, timeout, progress=ctx.progress)


def _fork_all(ctx: BuildContext, configs: Sequence[DaemonConfig], records: dict[str, Record],
              launcher: Launcher, timeout: float) -> None:
    with interrupts.deferred():  # forked daemons are recorded before Ctrl-C is raised
        code, out, err = launcher.launch(ctx.run, [f"{c.node}={ctx.ns(c.node)}:{c.role}"
                                                   for c in configs], timeout)
        for line in out.splitlines():
            node, _, pid = line.partition(" ")
            if node in records and pid.isdigit():
                start = processes.start_time(int(pid))
                ctx.state.confirm(records[node], pid=int(pid),
                                  start=-1 if start is None else start)
    missing = [n for n, r in records.items() if r.pid is None]
    if code != 0 or missing:
        raise LabError(f"the daemon launcher failed (exit {code}; not started: "
                       f"{', '.join(missing) or 'none'}):\n{err.strip()[-2000:]}")


def wait_ready(run: RunDir, records: dict[str, Record], timeout: float, *,
               progress: Callable[[str], None] | None = None,
               progress_after: float = PROGRESS_AFTER) -> None:
    """Return once every daemon's control socket accepts; :class:`LabError` with its last log
    lines if one exits first or is still not ready after ``timeout`` seconds. A wait longer
    than ``progress_after`` seconds is told to ``progress``, then every PROGRESS_EVERY s."""
    pending = dict(records)
    start = time.monotonic()
    deadline = start + timeout
    tell = start + progress_after
    while pending:
        for node, record in list(pending.items()):
            if run.control(node).exists() and reachable(run.control(node)):
                del pending[node]
            elif not _alive(record):
                raise LabError(f"the {node} daemon exited while starting.\n"
                               f"{tail_text(run.log(node))}\n  fix: correct what its log says "
                               "(the lab has been removed again)")
        now = time.monotonic()
        if pending and now > deadline:
            names = ", ".join(pending)
            node = next(iter(pending))
            raise LabError(f"daemon(s) {names} not ready within {timeout:g} s.\n"
                           f"{tail_text(run.log(node))}\n  fix: a slow or busy machine may need "
                           "more time (stop other labs, retry); otherwise the log says what it "
                           "waits for")
        if pending and progress is not None and now >= tell:
            progress(f"waiting for the {', '.join(pending)} daemon(s) to be ready: "
                     f"{now - start:.0f} s of at most {timeout:g} s")
            tell = now + PROGRESS_EVERY
        if pending:
            time.sleep(POLL)


def _alive(record: Record) -> bool:
    if record.pid is None or record.start is None:
        return False
    return processes.alive(processes.ProcessId(record.pid, record.start))


def stop_daemons(state: LabState, nodes: Sequence[str] | None = None) -> list[str]:
    """Stop the recorded daemons (all, or those of ``nodes``) and forget their records."""
    chosen = [r for r in daemon_records(state) if nodes is None or node_of(r) in nodes]
    processes.stop_processes([processes.ProcessId(r.pid, r.start) for r in chosen
                              if r.pid is not None and r.start is not None])
    for r in chosen:
        state.drop(r)
        RunDir(state.lab, state.run.root).control(node_of(r)).unlink(missing_ok=True)
    return [node_of(r) for r in chosen]


def daemon_records(state: LabState) -> list[Record]:
    return [r for r in state.records if r.kind == "process" and r.name.startswith(LABEL)]


def node_of(record: Record) -> str:
    return record.name.removeprefix(LABEL)


# --- health ----------------------------------------------------------------------------------


@dataclass
class DaemonHealth:
    """One daemon as ``uclab status`` shows it."""

    node: str
    pid: int | None
    alive: bool
    ready: bool
    log: str
    last_lines: list[str] = field(default_factory=list)


def health(state: LabState) -> list[DaemonHealth]:
    """Every daemon the lab runs: alive, answering on its control socket; a dead one with the
    last lines of its log; one that has no record (stopped and never started again, e.g. a run
    killed while it restarted them) is not running, as a dead one is."""
    out = []
    recorded = {node_of(r): r for r in daemon_records(state)}
    for node in [*state.daemons, *[n for n in recorded if n not in state.daemons]]:
        log_path = str(state.run.log(node))
        r = recorded.get(node)
        if r is None:
            out.append(DaemonHealth(node, None, False, False, log_path, [
                "not running: stopped and not started again; `uclab down` then `uclab up` "
                "repairs the lab"]))
            continue
        alive = _alive(r)
        ready = alive and reachable(state.run.control(node))
        lines = [] if alive else tail(state.run.log(node))
        out.append(DaemonHealth(node, r.pid, alive, ready, log_path, lines))
    return out


def tail(path: Path, n: int = LOG_LINES) -> list[str]:
    """The last ``n`` lines of a log file (empty if there is none)."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read()
    except OSError:
        return []
    return data.decode(errors="replace").splitlines()[-n:]


def tail_text(path: Path, n: int = LOG_LINES) -> str:
    lines = tail(path, n)
    if not lines:
        return f"  ({path} is empty)"
    return f"  last lines of {path}:\n" + "\n".join(f"    {line}" for line in lines)

