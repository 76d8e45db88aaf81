"""Start the daemons of a lab from one interpreter: import the stacks once, fork per daemon.

Five interpreters importing asyncio, ssl and the protocol stacks cost about a second of CPU
on a 2-core machine; one interpreter that imports them and forks costs a fifth of it. Each
child starts a session of its own, enters its node's namespace (:func:`lab.kernel.setns.
enter_netns`: the child has one thread, so the whole process moves), sends its output to the
node's log and becomes that node's daemon exactly as ``python -m nodes.<role>`` would
(:func:`nodes.common.main`). The launcher prints ``<node> <pid>`` per child and exits; the lab
records the pids (:func:`lab.daemons.supervisor.start_daemons`).

    python -m nodes.forkserver --run /run/uclab/uclab cms=uclab-cms:cms ...

With ``--run -`` and no nodes it imports first, then reads the run folder and the nodes from
stdin (two lines): ``uclab run`` starts it so before building the lab, and the imports overlap
the build.
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from lab.base.state import RunDir
from lab.daemons.config import DAEMON_MODULES
from lab.kernel.setns import enter_netns

STDIN_TIMEOUT = 60.0  # an early launcher whose lab never comes leaves by itself


def _child(run: RunDir, node: str, ns: str, module: str) -> int:
    os.setsid()
    out = os.open(run.log(node), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    try:
        Path("/proc/self/comm").write_text(node[:15])
        enter_netns(ns)
        from nodes.common import main  # noqa: PLC0415 - imported by the parent already

        serve = importlib.import_module(module).serve
        return main(serve, ["--config", str(run.config(node)), "--control",
                            str(run.control(node))])
    except BaseException:
        traceback.print_exc()
        return 1


def _import_all(roles: Sequence[str] = tuple(DAEMON_MODULES)) -> None:
    for module in sorted({DAEMON_MODULES[role] for role in roles}):
        importlib.import_module(module)  # the stacks, once, before forking


def launch(run: RunDir, nodes: Sequence[tuple[str, str, str]]) -> None:
    """Fork one daemon per ``(node, namespace, role)``; print ``node pid`` for each."""
    _import_all([role for _, _, role in nodes])
    for node, ns, role in nodes:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            os._exit(_child(run, node, ns, DAEMON_MODULES[role]))
        print(f"{node} {pid}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="start the node daemons of a lab")
    parser.add_argument("--run", required=True, type=Path,
                        help="the lab's run folder ('-': read it from stdin first)")
    parser.add_argument("nodes", nargs="*", metavar="NODE=NAMESPACE:ROLE",
                        help="the daemons; none: read them from stdin, one per line, after "
                        "importing the stacks (started early, the launcher waits for them)")
    args = parser.parse_args(argv)
    folder = args.run
    if args.nodes:
        items = list(args.nodes)
    else:
        _import_all()
        ready, _, _ = select.select([sys.stdin], [], [], STDIN_TIMEOUT)
        lines = sys.stdin.read().splitlines() if ready else []
        if len(lines) < 2:
            return 0  # not needed after all
        folder, items = Path(lines[0]), lines[1].split()
    run = RunDir(folder.name, folder.parent)
    nodes = []
    for item in items:
        node, _, rest = item.partition("=")
        ns, _, role = rest.partition(":")
        if role not in DAEMON_MODULES:
            parser.error(f"{item}: unknown role {role!r}")
        nodes.append((node, ns, role))
    launch(run, nodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
