"""Starting and stopping ``uclab serve``: the configuration, the seats, the signals.

    config = ServeConfig.from_args("0.0.0.0:8080", seats=12, name="uclab")   # InputError
    serve(config, announce=print)

Start: the listen address is checked (:func:`lab.web.security.check_listen`), every seat's
lab name must be free (a lab that exists already is not this server's to take down), tokens
are made, the server listens. SIGINT and SIGTERM stop it: new jobs are refused, every tour is
released, every seat's lab is taken down (:meth:`lab.web.jobs.Jobs.shutdown`), then the
server closes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from lab.base.errors import InputError
from lab.base.names import check_lab_name
from lab.base.state import RunDir
from lab.web import security
from lab.web.jobs import Jobs, firewall_lab
from lab.web.routes import JOBS, SEATS, add_routes
from lab.web.seats import Seats

MAX_SEATS = 64
DEFAULT_MAX_RUNS = 4


@dataclass(frozen=True)
class ServeConfig:
    host: str
    port: int
    labs: list[str]
    seats: int | None = None
    max_runs: int = DEFAULT_MAX_RUNS
    tokens_file: Path | None = None
    work: Path | None = field(default=None)

    @classmethod
    def from_args(cls, listen: str, seats: int | None, name: str, max_runs: int | None = None,
                  tokens_file: Path | None = None) -> ServeConfig:
        host, sep, port_text = listen.rpartition(":")
        if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InputError(f"--listen {listen!r} is not HOST:PORT", "--listen",
                             fix="e.g. --listen 127.0.0.1:8080")
        host = host.strip("[]")
        security.check_listen(host, seats)
        if seats is not None and not 1 <= seats <= MAX_SEATS:
            raise InputError(f"--seats {seats}: from 1 to {MAX_SEATS}", "--seats",
                             fix="one seat per trainee")
        if max_runs is not None and not 1 <= max_runs <= MAX_SEATS:
            raise InputError(f"--max-runs {max_runs}: from 1 to {MAX_SEATS}", "--max-runs",
                             fix="calls at once; 4 suits a 2-core machine")
        check_lab_name(name)
        labs = [name] if seats is None else [f"{name}{i}" for i in range(1, seats + 1)]
        for lab in labs:
            try:
                check_lab_name(lab)
                check_lab_name(f"{lab}f")
            except InputError:
                raise InputError(f"--name {name!r} is too long for {len(labs)} seats (lab "
                                 f"{lab}f)", "--name", fix="a shorter name, e.g. uc") from None
        return cls(host, int(port_text), labs, seats, max_runs or DEFAULT_MAX_RUNS,
                   tokens_file)


def check_free(labs: list[str]) -> None:
    """Refuse labs that exist already: they are not this server's to take down."""
    taken = [lab for seat in labs for lab in (seat, f"{seat}f") if RunDir(lab).path.exists()]
    if taken:
        raise InputError(f"lab {', '.join(taken)} exists already", "--name",
                         fix=f"`uclab down --name {taken[0]}` first, or give another --name")


def make_app(config: ServeConfig, work: Path) -> web.Application:
    app = web.Application(client_max_size=security.MAX_BODY,
                          middlewares=[security.guard(security.is_loopback(config.host))])
    app[SEATS] = Seats(config.labs, work)
    app[JOBS] = Jobs(config.max_runs)
    add_routes(app)
    return app


def urls(app: web.Application, base: str) -> list[str]:
    seats = app[SEATS]
    out = [f"trainer: {base}/trainer?token={seats.trainer_token}"]
    out += [f"seat {s.number} (lab {s.lab}): {base}/seat/{s.number}?token={s.token}"
            for s in seats]
    return out


async def run_server(config: ServeConfig, announce: Callable[[str], None],
                     stop: asyncio.Event | None = None, *, signals: bool = True,
                     started: Callable[[web.Application], None] | None = None) -> list[str]:
    """Serve until SIGINT/SIGTERM (``signals``, main thread only) or ``stop``; the labs
    removed on the way out. ``started(app)`` is called once it listens."""
    check_free(config.labs)
    work = config.work or Path(tempfile.mkdtemp(prefix="uclab-serve-"))
    app = make_app(config, work)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM) if signals else ():
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        host = f"[{config.host}]" if ":" in config.host else config.host
        lines = urls(app, f"http://{host}:{config.port}")
        if config.tokens_file is not None:
            fd = os.open(config.tokens_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("\n".join(lines) + "\n")
        announce(f"uclab serve on http://{host}:{config.port} ({len(config.labs)} seat(s)); "
                 "Ctrl-C stops it and removes the labs it built")
        for line in lines:
            announce(line)
        if started is not None:
            started(app)
        await stop.wait()
        announce("stopping: taking the seats' labs down")
        removed = await app[JOBS].shutdown(list(app[SEATS].seats.values()))
        if removed:
            announce(f"removed lab(s) {', '.join(removed)}")
        return removed
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM) if signals else ():
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        if config.work is None:
            shutil.rmtree(work, ignore_errors=True)


def serve(config: ServeConfig, announce: Callable[[str], None] = print) -> int:
    asyncio.run(run_server(config, announce))
    return 0


__all__ = ["ServeConfig", "check_free", "firewall_lab", "make_app", "run_server", "serve"]
