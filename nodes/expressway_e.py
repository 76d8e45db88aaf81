"""``expressway-e``: Expressway-E. SIP proxy on the public side (5061), traversal zone server
(7001: Expressway-C's connection carries every request towards the inside), TURN server on
10.48.54.229:3478 relaying from 192.168.1.229:24000-29999 (RFC 6062 TCP allocations since X8.9).
New connections it opens leave from 25000-29999 (ports.md F2).

    python -m nodes.expressway_e --config <run>/config/expressway-e.json --control ...
"""

from __future__ import annotations

import sys

from lab.topology.roles import ExpresswayESettings
from nodes.common import Daemon, main
from nodes.turn import serve_proxy_and_turn


async def serve(daemon: Daemon) -> None:
    await serve_proxy_and_turn(daemon, ExpresswayESettings)


if __name__ == "__main__":
    sys.exit(main(serve))
