"""``expressway-e``: Expressway-E. SIP proxy on the public side (5061), traversal zone server
(7001: Expressway-C's connection carries every request towards the inside), TURN server on
10.48.54.229:3478 relaying from 192.168.1.229:24000-29999 (RFC 6062 TCP allocations since X8.9).
New connections it opens leave from 25000-29999 (ports.md F2).

    python -m nodes.expressway_e --config <run>/config/expressway-e.json --control ...
"""

from __future__ import annotations

import sys

from lab.errors import LabError
from lab.topology.roles import ExpresswayESettings
from nodes.common import Daemon, main, proxy_from_plan
from nodes.turn import turn_server


async def serve(daemon: Daemon) -> None:
    settings = daemon.config.settings_as(ExpresswayESettings)
    if daemon.config.sip is None:
        raise LabError("expressway-e needs a SIP plan in its configuration")
    proxy = proxy_from_plan(daemon, daemon.config.sip)
    turn = turn_server(settings.turn, daemon.config.time_scale)
    assert daemon.tg is not None
    daemon.tg.create_task(proxy.serve())
    daemon.tg.create_task(turn.serve())
    await proxy.transport.ready.wait()
    await turn.ready.wait()
    await daemon.ready()


if __name__ == "__main__":
    sys.exit(main(serve))
