"""``uclab tour``: the call stopped before each group of canonical steps, in the terminal (rich).

At each stop it says what will happen next and why (lab/web/steps.yaml), then waits: Enter
goes on, a fault written as one ``--fault`` entry (``cut: {link: sfb-edge:external}``) is
applied first. After the call: the ladder report and the diagnosis, as ``uclab run`` prints.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

from lab.base.errors import InputError
from lab.run import RunOptions, run
from lab.run.tour import STOP_LIMIT, TOUR_TIME_SCALE, Halt, Tour
from lab.scenario import load, with_faults


def tour_command(args: argparse.Namespace) -> int:
    from rich.console import Console  # noqa: PLC0415

    from lab.web.explain import explanations  # noqa: PLC0415

    console = Console(width=args.width) if args.width else Console()
    scenario = with_faults(load(args.scenario), args.fault)
    texts = explanations()
    stopped = threading.Event()
    halts: list[Halt] = []

    def on_stop(halt: Halt) -> None:
        halts.append(halt)
        stopped.set()

    tour = Tour(scenario, on_stop)
    console.print(f"[bold]tour[/] of {scenario.name} on lab {args.name}: {len(tour.stops)} "
                  f"stops; the daemons' long timers run {TOUR_TIME_SCALE:g} times longer, a "
                  f"stop goes on by itself after {STOP_LIMIT:g} s")
    result_box: list[Any] = []
    worker = threading.Thread(target=lambda: result_box.append(
        run(tour.plan(args.media_seconds), RunOptions(lab=args.name, pcap=args.pcap))),
        name="tour-run")
    worker.start()
    try:
        while worker.is_alive():
            if not stopped.wait(0.2):
                continue
            stopped.clear()
            halt = halts[-1]
            _show(console, halt, texts)
            if halt.held:
                _ask(console, tour, args.auto)
    except (KeyboardInterrupt, EOFError):
        console.print("\nstopping: every stop released; the call ends and its lab is removed")
        tour.disarm()
        worker.join()
        return 130
    worker.join()
    result = result_box[0]
    from lab.cli import run_view  # noqa: PLC0415
    from lab.cli.run_view import print_report  # noqa: PLC0415

    if result.ladder is not None:
        print_report(result.ladder, args.width)
    run_view.print_run(result, argparse.Namespace(width=args.width, keep=False))
    for note in tour.notes:
        console.print(f"[yellow]tour:[/] {note}", highlight=False)
    return 0 if result.passed else 1


def _show(console: Any, halt: Halt, texts: Any) -> None:
    stop = halt.stop
    console.rule(f"stop {halt.index + 1}: {halt.node} at {stop.event!r}")
    console.print(f"next: {stop.says}", highlight=False)
    for n in stop.next_steps:
        ex = texts[n]
        console.print(f"  [bold]step {n}[/] {ex.what}", highlight=False)
        console.print(f"     [dim]why: {ex.why} ({ex.rfc})[/]", highlight=False)


def _ask(console: Any, tour: Tour, auto: bool) -> None:
    while True:
        if auto:
            answer = ""
        else:
            answer = console.input("[bold]Enter[/] goes on; or a fault such as "
                                   "'cut: {link: sfb-edge:external}': ").strip()
        try:
            tour.go_on(answer or None)
            return
        except InputError as exc:
            console.print(f"[red]{exc}[/]", highlight=False)
