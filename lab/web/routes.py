"""The HTTP handlers of ``uclab serve``: pages, the seat API, the trainer's API.

    GET  /seat/{n}?token=T              the seat's page (lab, call, tour, firewall)
    GET  /trainer?token=T               every seat's state
    GET  /api/seat/{n}/state            the lab: topology, nodes, daemons, counters, job
    GET  /api/seat/{n}/events           Server-Sent Events: job, reset, ladder, halt, report
    GET  /api/seat/{n}/download/{kind}  pcapng | html | json | junit of the last call
    POST /api/seat/{n}/up | down        the seat's lab
    POST /api/seat/{n}/run              {"scenario", "faults": [...], "tour": bool}
    POST /api/seat/{n}/next             {"fault": null | "cut: {...}"}  (the tour's Next)
    POST /api/seat/{n}/firewall         {"policies": {"fw-outside": text, ...}, "format"}
    GET  /api/trainer/state             (trainer's token)

Every seat route checks the seat's own token (:mod:`lab.web.security`); input is validated
(scenario names from the library only, faults in the ``--fault`` grammar, policies by
:func:`lab.firewall.prepare`) before anything is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from lab.base.errors import InputError
from lab.base.state import RunDir
from lab.web import security
from lab.web.jobs import DOWNLOADS, Jobs, halt_json
from lab.web.seats import Json, Seat, Seats

STATIC = Path(__file__).with_name("static")
SEATS: web.AppKey[Seats] = web.AppKey("seats", Seats)
JOBS: web.AppKey[Jobs] = web.AppKey("jobs", Jobs)
PING = 15.0  # seconds between keep-alive comments on an event stream
FIREWALLS = ("fw-outside", "fw-inside")


def _seat(request: web.Request) -> Seat:
    try:
        number = int(request.match_info["n"])
    except ValueError:
        raise web.HTTPNotFound() from None
    seat = request.app[SEATS].get(number, security.token_of(request))
    if seat is None:
        raise security.forbidden(f"this token does not open seat {number}")
    return seat


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC / name, headers={"Content-Type": "text/html; charset=utf-8"})


async def index(request: web.Request) -> web.Response:
    return web.Response(text="uclab serve: open the seat URL your trainer gave you\n")


async def seat_page(request: web.Request) -> web.FileResponse:
    _seat(request)
    return _page("seat.html")


async def trainer_page(request: web.Request) -> web.FileResponse:
    if not request.app[SEATS].is_trainer(security.token_of(request)):
        raise security.forbidden("the trainer's page needs the trainer's token")
    return _page("trainer.html")


async def trainer_state(request: web.Request) -> web.Response:
    seats = request.app[SEATS]
    if not seats.is_trainer(security.token_of(request)):
        raise security.forbidden("the trainer's page needs the trainer's token")
    rows = []
    for seat in seats:
        row = seat.summary()
        row["up"] = RunDir(seat.lab).path.exists()
        rows.append(row)
    return web.json_response({"seats": rows})


# --- the lab ------------------------------------------------------------------------------

def _lab_state(seat: Seat) -> Json:
    from lab import topology  # noqa: PLC0415
    from lab.lifecycle import status  # noqa: PLC0415

    topo = topology.load()
    out: Json = {"seat": seat.summary(), "topology": topo.name, "up": False, "status": None}
    if RunDir(seat.lab).path.exists():
        with contextlib.suppress(Exception):  # a lab being built or removed: next poll
            st = status.collect(seat.lab)
            out["status"] = _status_json(st)
            out["up"] = st.phase == "up"
    return out


def _status_json(st: Any) -> Json:
    daemons = {d.node: {"alive": d.alive, "pid": d.pid} for d in st.daemons}
    nodes = []
    for n in st.nodes:
        nodes.append({"name": n.name, "role": n.role, "present": n.present,
                      "daemon": daemons.get(n.name),
                      "interfaces": [str(getattr(i, "name", i)) for i in n.interfaces],
                      "rules": [{"rule": r.rule, "comment": r.comment, "packets": r.packets,
                                 "bytes": r.bytes, "chain": r.chain} for r in n.rules]})
    return {"phase": st.phase, "nodes": nodes}


async def state(request: web.Request) -> web.Response:
    seat = _seat(request)
    data = await asyncio.to_thread(_lab_state, seat)
    data["report"] = seat.report
    data["halt"] = seat.halt
    data["firewall"] = seat.firewall
    return web.json_response(data)


async def topology_svg(request: web.Request) -> web.Response:
    """The ``uclab graph`` picture (it carries its own style element)."""
    _seat(request)
    from lab import topology  # noqa: PLC0415
    from lab.topology.graph import svg  # noqa: PLC0415

    text = await asyncio.to_thread(lambda: svg(topology.load()))
    response = web.Response(text=text, content_type="image/svg+xml")
    response.headers.update(security.HEADERS)
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


async def scenarios(request: web.Request) -> web.Response:
    _seat(request)
    from lab import scenario  # noqa: PLC0415

    def listing() -> list[Json]:
        out = []
        for name in scenario.names():
            try:
                sc = scenario.load(name)
            except InputError:
                continue
            out.append({"name": name, "description": sc.description})
        return out

    return web.json_response({"scenarios": await asyncio.to_thread(listing)})


async def up(request: web.Request) -> web.Response:
    seat = _seat(request)
    jobs = request.app[JOBS]
    jobs.start(seat, "up", jobs.up(seat))
    return web.json_response({"started": "up"}, status=202)


async def down(request: web.Request) -> web.Response:
    seat = _seat(request)
    jobs = request.app[JOBS]
    jobs.start(seat, "down", jobs.down(seat))
    return web.json_response({"started": "down"}, status=202)


# --- the call and the tour ----------------------------------------------------------------

async def _json_body(request: web.Request) -> Json:
    if request.content_type != "application/json":
        raise web.HTTPBadRequest(text="send JSON\n")
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="the body is not JSON\n") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body is a JSON object\n")
    return body


def _bad(exc: InputError) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": str(exc), "message": exc.message,
                                               "line": exc.line, "fix": exc.fix}),
                              content_type="application/json")


def _plan(body: Json, seat: Seat) -> tuple[Any, Any]:
    """The run plan (and tour) a form asks for, validated: a library scenario, at most
    :data:`security.MAX_FAULTS` faults in the --fault grammar."""
    from lab import scenario  # noqa: PLC0415
    from lab.run import RunPlan  # noqa: PLC0415

    name = body.get("scenario", "screen-share")
    faults = body.get("faults") or []
    if not isinstance(name, str) or name not in scenario.names():
        raise InputError(f"no scenario {name!r} in the library", "scenario",
                         fix="choose one of the list")
    if (not isinstance(faults, list) or len(faults) > security.MAX_FAULTS
            or not all(isinstance(f, str) and 0 < len(f) <= security.MAX_FAULT_TEXT
                       for f in faults)):
        raise InputError(f"faults: a list of at most {security.MAX_FAULTS} entries of the "
                         "--fault grammar", "faults",
                         fix="e.g. cut: {link: sfb-edge:external, at: cms:answered}")
    sc = scenario.with_faults(scenario.load(name), faults)
    if body.get("tour") is True:
        from lab.run.tour import Tour  # noqa: PLC0415

        loop = asyncio.get_running_loop()

        def on_stop(halt: Any) -> None:
            loop.call_soon_threadsafe(_halted, seat, halt)

        tour = Tour(sc, on_stop)
        return tour.plan(), tour
    return RunPlan.of(sc), None


def _halted(seat: Seat, halt: Any) -> None:
    if seat.tour is None:
        return
    seat.halt = halt_json(halt, len(seat.tour.stops))
    seat.hub.publish("halt", seat.halt)


async def start_run(request: web.Request) -> web.Response:
    seat = _seat(request)
    body = await _json_body(request)
    try:
        plan, tour = _plan(body, seat)
    except InputError as exc:
        raise _bad(exc) from None
    jobs = request.app[JOBS]
    jobs.start(seat, "tour" if tour else "run", jobs.call(seat, plan, tour=tour))
    return web.json_response({"started": "tour" if tour else "run"}, status=202)


async def tour_next(request: web.Request) -> web.Response:
    seat = _seat(request)
    body = await _json_body(request)
    fault = body.get("fault")
    if seat.tour is None or seat.halt is None:
        raise web.HTTPConflict(text="the tour is not at a stop\n")
    if fault is not None and (not isinstance(fault, str)
                              or len(fault) > security.MAX_FAULT_TEXT):
        raise web.HTTPBadRequest(text="fault: one entry of the --fault grammar\n")
    try:
        seat.tour.go_on(fault or None)
    except InputError as exc:
        raise _bad(exc) from None
    seat.halt = None
    seat.hub.publish("go", {"fault": fault})
    return web.json_response({"released": True})


async def download(request: web.Request) -> web.FileResponse:
    seat = _seat(request)
    kind = request.match_info["kind"]
    path = seat.files.get(kind)
    if kind not in DOWNLOADS or path is None or not path.exists():
        raise web.HTTPNotFound(text=f"no {kind} of a finished call on this seat\n")
    return web.FileResponse(path, headers={
        "Content-Disposition": f'attachment; filename="seat{seat.number}-{path.name}"'})


async def events(request: web.Request) -> web.StreamResponse:
    seat = _seat(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store"})
    response.headers.update(security.HEADERS)
    await response.prepare(request)
    first = {"job": seat.job, "live": seat.live, "report": seat.report, "halt": seat.halt,
             "firewall": seat.firewall}
    await response.write(f"event: state\ndata: {json.dumps(first)}\n\n".encode())
    async with seat.hub.listen() as queue:
        while True:
            try:
                text = await asyncio.wait_for(queue.get(), PING)
            except TimeoutError:
                text = ": ping\n\n"
            if text is None:
                break
            try:
                await response.write(text.encode())
            except (ConnectionResetError, RuntimeError):
                break
    return response


# --- the firewall page --------------------------------------------------------------------

async def _policies(request: web.Request) -> tuple[dict[str, str], str | None]:
    """The pasted or uploaded policy pair: text per firewall, each capped and UTF-8."""
    texts: dict[str, str] = {}
    fmt: str | None = None
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            data = await _capped(part)
            if part.name in FIREWALLS and data.strip():
                texts[part.name] = _text(part.name, data)
            elif part.name == "format" and data:
                fmt = data.decode("ascii", "replace")
    else:
        body = await _json_body(request)
        raw = body.get("policies")
        if not isinstance(raw, dict):
            raise web.HTTPBadRequest(text="policies: {firewall: text}\n")
        for name, text in raw.items():
            if name not in FIREWALLS or not isinstance(text, str):
                raise web.HTTPBadRequest(text=f"policies: firewalls are {', '.join(FIREWALLS)}\n")
            if text.strip():
                texts[name] = _text(name, text.encode())
        fmt = body.get("format") if isinstance(body.get("format"), str) else None
    if fmt not in (None, "", "nft", "iptables"):
        raise web.HTTPBadRequest(text="format: nft or iptables (or leave it out)\n")
    if not texts:
        raise web.HTTPBadRequest(text="give at least one policy\n")
    return texts, fmt or None


async def _capped(part: BodyPartReader) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(8192):
        data += chunk
        if len(data) > security.MAX_POLICY:
            raise web.HTTPRequestEntityTooLarge(max_size=security.MAX_POLICY,
                                                actual_size=len(data))
    return bytes(data)


def _text(name: str, data: bytes) -> str:
    if len(data) > security.MAX_POLICY:
        raise web.HTTPRequestEntityTooLarge(max_size=security.MAX_POLICY,
                                            actual_size=len(data))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise web.HTTPBadRequest(text=f"{name}: the policy is not UTF-8 text\n") from None


async def firewall(request: web.Request) -> web.Response:
    seat = _seat(request)
    texts, fmt = await _policies(request)
    jobs = request.app[JOBS]
    jobs.start(seat, "firewall", jobs.firewall(seat, texts, fmt))
    return web.json_response({"started": "firewall"}, status=202)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/seat/{n}", seat_page)
    app.router.add_get("/trainer", trainer_page)
    app.router.add_get("/api/trainer/state", trainer_state)
    app.router.add_get("/api/seat/{n}/state", state)
    app.router.add_get("/api/seat/{n}/scenarios", scenarios)
    app.router.add_get("/api/seat/{n}/topology.svg", topology_svg)
    app.router.add_get("/api/seat/{n}/events", events)
    app.router.add_get("/api/seat/{n}/download/{kind}", download)
    app.router.add_post("/api/seat/{n}/up", up)
    app.router.add_post("/api/seat/{n}/down", down)
    app.router.add_post("/api/seat/{n}/run", start_run)
    app.router.add_post("/api/seat/{n}/next", tour_next)
    app.router.add_post("/api/seat/{n}/firewall", firewall)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
