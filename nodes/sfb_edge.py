"""``sfb-edge``: the Skype Edge. Access Edge (SIP proxy between the client's network and the
Internet, flow.md §3 steps 1-2, 13-14) and A/V Edge (standard TURN server of the client, relays
192.168.1.252:53577 then :51577, flow.md §2).

    python -m nodes.sfb_edge --config <run>/config/sfb-edge.json \
        --control <run>/control/sfb-edge.sock
"""

from __future__ import annotations

import sys

from lab.errors import LabError
from lab.topology.roles import SfbEdgeSettings
from nodes.common import Daemon, main, proxy_from_plan
from nodes.turn import turn_server


async def serve(daemon: Daemon) -> None:
    settings = daemon.config.settings_as(SfbEdgeSettings)
    if daemon.config.sip is None:
        raise LabError("sfb-edge needs a SIP plan in its configuration")
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
