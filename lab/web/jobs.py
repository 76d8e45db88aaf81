"""What a seat does, each in a thread while the event loop goes on serving: bring its lab up or
down, run a call (or a tour) with the ladder followed live, check a firewall policy pair.

One job per seat at a time (a second gets 409); calls and firewall checks over all seats share
:attr:`Jobs.slots` (``--max-runs``): more wait their turn, said so on the page. A call is
:func:`lab.run.run`, with its guarantees: a lab it builds is built with rollback and removed
afterwards; a lab the seat brought up stays up. :meth:`Jobs.shutdown` takes down every lab of
the seats (the server refuses to start when one exists already, so each is its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from lab import topology
from lab.base.errors import InputError, LabError, UclabError
from lab.base.state import RunDir
from lab.lifecycle import build, teardown
from lab.web import present
from lab.web.downloads import FILES, write_files
from lab.web.live import GrowingCapture, LiveLadder
from lab.web.seats import Json, Seat

log = logging.getLogger(__name__)

TICK = 0.05  # seconds between looks at the growing capture
DOWNLOADS = FILES


def firewall_lab(seat: Seat) -> str:
    """The throwaway lab of a seat's firewall checks."""
    return f"{seat.lab}f"


class Jobs:
    def __init__(self, max_runs: int) -> None:
        self.slots = asyncio.Semaphore(max_runs)
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = False

    # --- starting ---------------------------------------------------------------------

    def start(self, seat: Seat, kind: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as the seat's job ``kind`` (409 if the seat is busy)."""
        if self.stopping:
            coro.close()
            raise web.HTTPServiceUnavailable(text="the server is stopping\n")
        if seat.job is not None:
            coro.close()
            raise web.HTTPConflict(text=f"seat {seat.number} is busy ({seat.job}); one thing "
                                   "at a time per seat\n")
        seat.job, seat.error = kind, None
        seat.hub.publish("job", {"job": kind})
        task = asyncio.create_task(self._guarded(seat, kind, coro), name=f"seat{seat.number}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(self, seat: Seat, kind: str, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except UclabError as exc:
            seat.error = str(exc)
            log.warning("seat %d %s: %s", seat.number, kind, exc)
        except Exception as exc:
            seat.error = f"{type(exc).__name__}: {exc}"
            log.exception("seat %d %s failed", seat.number, kind)
        finally:
            seat.job, seat.tour, seat.halt = None, None, None
            seat.hub.publish("job", {"job": None, "error": seat.error})

    # --- up / down --------------------------------------------------------------------

    async def up(self, seat: Seat) -> None:
        def work() -> None:
            from lab.daemons.launcher import prelaunch  # noqa: PLC0415

            launcher = prelaunch(seat.lab)
            try:
                build.up(topology.load(), seat.lab)
            finally:
                launcher.close()

        async with self.slots:
            await asyncio.to_thread(work)
        seat.built = True

    async def down(self, seat: Seat) -> None:
        await asyncio.to_thread(teardown.down, seat.lab)
        seat.built = False

    # --- a call -----------------------------------------------------------------------

    async def call(self, seat: Seat, plan: Any, *, tour: Any = None) -> None:
        """Run ``plan`` (a :class:`lab.run.RunPlan`) on the seat's lab, the ladder followed
        live, then the report and the downloads."""
        from lab.run import RunOptions, run  # noqa: PLC0415
        from lab.run.expect import expected_values, ladder_names  # noqa: PLC0415

        seat.report, seat.live, seat.halt = None, {}, None
        shutil.rmtree(seat.work, ignore_errors=True)
        seat.work.mkdir(parents=True)
        seat.files = {}
        seat.hub.publish("reset", {"scenario": plan.scenario.name, "tour": tour is not None})
        topo = plan.topology
        run_dir = RunDir(seat.lab)
        live = LiveLadder(GrowingCapture(run_dir.path / "captures", [n.name for n in topo.nodes],
                                         time.time_ns()), run_dir.pki / "keylog.txt",
                          ladder_names(topo), expected_values(topo), topo)
        pcap = seat.work / DOWNLOADS["pcapng"]
        if self.slots.locked():
            seat.hub.publish("queued", {"message": "waiting for a free run slot"})
        async with self.slots:
            seat.tour = tour
            done = asyncio.Event()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._follow(seat, live, done))
                try:
                    result = await asyncio.to_thread(
                        self._prelaunched, seat.lab, run, plan, RunOptions(lab=seat.lab,
                                                                           pcap=pcap))
                finally:
                    done.set()
        seat.files = await asyncio.to_thread(write_files, seat.work, result)
        seat.report = present.report(result)
        seat.report["downloads"] = sorted(seat.files)
        seat.hub.publish("report", seat.report)

    @staticmethod
    def _prelaunched(lab: str, run: Any, plan: Any, options: Any) -> Any:
        from lab.daemons.launcher import prelaunch  # noqa: PLC0415

        launcher = prelaunch(lab) if not RunDir(lab).path.exists() else None
        try:
            return run(plan, options)
        finally:
            if launcher is not None:
                launcher.close()

    async def _follow(self, seat: Seat, live: LiveLadder, done: asyncio.Event) -> None:
        """Push the live ladder's changes until the call is over."""
        sent: dict[str, Json] = {}
        steps: list[Json] = []
        decrypting: asyncio.Task[None] | None = None
        try:
            while not done.is_set():
                await asyncio.to_thread(_quiet, live.fast_pass)
                if live.needs_tshark and (decrypting is None or decrypting.done()):
                    decrypting = asyncio.create_task(asyncio.to_thread(_quiet,
                                                                       live.decrypted_pass))
                steps = self._push(seat, live.view(), sent, steps)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), TICK)
        finally:
            if decrypting is not None:
                await decrypting

    @staticmethod
    def _push(seat: Seat, view: Json, sent: dict[str, Json], steps: list[Json]) -> list[Json]:
        arrows = {str(a["id"]): a for a in view["arrows"]}
        changed = [a for k, a in arrows.items() if sent.get(k) != a]
        removed = [k for k in sent if k not in arrows]
        new_steps = view["steps"] if view["steps"] != steps else None
        if changed or removed or new_steps is not None:
            seat.hub.publish("ladder", {"arrows": changed, "removed": removed,
                                        "steps": new_steps, "columns": view["columns"],
                                        "sent_at": time.time()})
        sent.clear()
        sent.update(arrows)
        seat.live = view
        return list(view["steps"])

    # --- the firewall check -----------------------------------------------------------

    async def firewall(self, seat: Seat, texts: Mapping[str, str], fmt: str | None) -> None:
        from lab.firewall import check  # noqa: PLC0415

        folder = Path(tempfile.mkdtemp(prefix=f"uclab-fw-{seat.lab}-"))
        paths = {node: folder / f"{node}.policy" for node in texts}
        for node, text in texts.items():
            paths[node].write_text(text, encoding="utf-8")
        seat.firewall = None
        try:
            async with self.slots:
                report = await asyncio.to_thread(check, paths, fmt,  # type: ignore[arg-type]
                                                 lab=firewall_lab(seat))
            seat.firewall = {"report": report.to_json()}
        except InputError as exc:
            which = next((n for n, p in paths.items() if str(exc.path) == str(p)), None)
            seat.firewall = {"error": {"node": which, "line": exc.line, "message": exc.message,
                                       "fix": exc.fix, "text": str(exc).replace(
                                           str(folder) + "/", "")}}
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        seat.hub.publish("firewall", seat.firewall)

    # --- stopping ---------------------------------------------------------------------

    async def shutdown(self, seats: list[Seat], wait: float = 60.0) -> list[str]:
        """Stop every tour, take down every lab of the seats, wait for the jobs to end;
        the labs removed."""
        self.stopping = True
        for seat in seats:
            if seat.tour is not None:
                await asyncio.to_thread(seat.tour.disarm)
        removed = await self._down_all(seats)
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=wait)
        removed += await self._down_all(seats)  # a run that was building when we came
        for seat in seats:
            seat.hub.close()
        return sorted(set(removed))

    async def _down_all(self, seats: list[Seat]) -> list[str]:
        labs = [lab for seat in seats for lab in (seat.lab, firewall_lab(seat))
                if RunDir(lab).path.exists()]
        results = await asyncio.gather(*(asyncio.to_thread(_down, lab) for lab in labs))
        return [lab for lab, ok in zip(labs, results, strict=True) if ok]


def _down(lab: str) -> bool:
    try:
        teardown.down(lab)
    except LabError as exc:
        log.warning("lab %s: down failed (%s); `uclab clean` finishes it", lab, exc)
        return False
    return True


def _quiet(step: Any) -> None:
    """A live pass; a capture read mid-write may not decode yet: the next tick will."""
    try:
        step()
    except Exception:
        log.debug("live ladder pass failed", exc_info=True)


def halt_json(halt: Any, stops: int) -> Json:
    """A tour's stop as the page shows it."""
    from lab.web.explain import explanations  # noqa: PLC0415

    texts = explanations()
    stop = halt.stop
    return {"index": halt.index, "stops": stops, "node": halt.node, "event": stop.event,
            "says": stop.says, "held": halt.held, "detail": halt.detail,
            "next": [texts[n].as_dict() for n in stop.next_steps]}


__all__ = ["DOWNLOADS", "Jobs", "firewall_lab", "halt_json"]
