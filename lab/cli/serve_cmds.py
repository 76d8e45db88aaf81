"""``uclab serve`` (the lab in a browser) and ``uclab tour`` (the call step by step, here).

Thin: argument parsing; the server is :mod:`lab.web`, the tour :mod:`lab.run.tour`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lab.base.names import DEFAULT_LAB


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve", help="the lab in a browser: live ladder, steps explained, tour, seats",
        description="Serve the lab's pages (no internet needed): the lab page (topology, "
        "nodes, daemons, firewall counters, up/down), the call page (the share or any "
        "scenario, with faults, its ladder drawn live from the capture, every message "
        "decoded, every step explained), the step-by-step tour and the firewall check. "
        "Each seat is one lab behind its own URL with a secret token (printed at start). "
        "Listens on 127.0.0.1 unless --listen says otherwise; any other address needs "
        "--seats. Ctrl-C or SIGTERM removes the labs it built. Example: uclab serve --seats "
        "12 --listen 0.0.0.0:8080")
    p.add_argument("--listen", metavar="HOST:PORT", default="127.0.0.1:8080",
                   help="address to listen on (default 127.0.0.1:8080)")
    p.add_argument("--seats", metavar="N", type=int, default=None,
                   help="N independent labs, one per trainee (LAB1..LABN); required when "
                   "listening on anything but loopback")
    p.add_argument("--name", metavar="LAB", default=DEFAULT_LAB,
                   help=f"lab name, or the seats' prefix (default {DEFAULT_LAB})")
    p.add_argument("--max-runs", metavar="N", type=int, default=None,
                   help="calls running at once over all seats (default: 4); more wait")
    p.add_argument("--tokens", metavar="FILE", type=Path, default=None,
                   help="also write the seats' URLs to FILE (mode 0600) for handing out")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "tour", help="the call step by step in the terminal: Enter goes on, or break it",
        description="Run SCENARIO stopping before each group of canonical steps (the daemon "
        "that sends next is held at its event): what happens next and why is printed, Enter "
        "goes on, or type a fault (the --fault grammar, without 'at') to break the call "
        "there. Then the ladder, the verdict and the diagnosis. Example: uclab tour "
        "screen-share")
    p.add_argument("scenario", metavar="SCENARIO", nargs="?", default="screen-share")
    p.add_argument("--name", metavar="LAB", default=DEFAULT_LAB, help="lab name")
    p.add_argument("--fault", metavar="SPEC", action="append", default=[],
                   help="a fault from the start, as for uclab run")
    p.add_argument("--media-seconds", metavar="S", type=float, default=None)
    p.add_argument("--pcap", metavar="FILE", type=Path, help="keep the capture")
    p.add_argument("--width", metavar="N", type=int, default=None)
    p.add_argument("--auto", action="store_true",
                   help="go on at every stop without asking (a demonstration, or a test)")
    p.set_defaults(func=cmd_tour)


def cmd_serve(args: argparse.Namespace) -> int:
    from lab.web.server import ServeConfig, serve  # noqa: PLC0415

    config = ServeConfig.from_args(args.listen, args.seats, args.name, args.max_runs,
                                   args.tokens)
    return serve(config)


def cmd_tour(args: argparse.Namespace) -> int:
    from lab.base.names import check_lab_name  # noqa: PLC0415
    from lab.daemons.launcher import prelaunch  # noqa: PLC0415

    launcher = prelaunch(check_lab_name(args.name))
    try:
        from lab.cli.tour_view import tour_command  # noqa: PLC0415

        return tour_command(args)
    finally:
        launcher.close()
