"""``sfb-edge``: the Skype Edge. Access Edge (SIP proxy between the client's network and the
Internet, flow.md §3 steps 1-2, 13-14) and A/V Edge (standard TURN server of the client, relays
192.168.1.252:53577 then :51577, flow.md §2).

    python -m nodes.sfb_edge --config <run>/config/sfb-edge.json \
        --control <run>/control/sfb-edge.sock
"""

from __future__ import annotations

import sys

from lab.topology.roles import SfbEdgeSettings
from nodes.common import Daemon, main
from nodes.turn import serve_proxy_and_turn


async def serve(daemon: Daemon) -> None:
    await serve_proxy_and_turn(daemon, SfbEdgeSettings)


if __name__ == "__main__":
    sys.exit(main(serve))
