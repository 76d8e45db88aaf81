"""``expressway-c``: Expressway-C. Opens and keeps the traversal zone connection to
Expressway-E:7001 from 25000-29999 (ports.md F3: always from the inside), and proxies between
that zone and CMS (F4). It is ready once the zone connection is up (TLS done), so an INVITE
never finds the zone down; or once the first attempt has failed (a firewall that drops 7001,
event ``zone-down``): like a real Expressway-C whose zone reads "Failed", it stays up and keeps
retrying, and Expressway-E answers INVITEs for the zone with 503.

    python -m nodes.expressway_c --config <run>/config/expressway-c.json --control ...
"""

from __future__ import annotations

import sys

from lab.base.errors import LabError
from lab.topology.events import ExpresswayCEvent
from nodes.common import Daemon, hostport, main, proxy_from_plan, wait_for


async def serve(daemon: Daemon) -> None:
    plan = daemon.config.sip
    if plan is None or plan.traversal_server is None:
        raise LabError("expressway-c needs a SIP plan with a traversal server")
    proxy = proxy_from_plan(daemon, plan)
    await daemon.wait_after()  # Expressway-E listens on 7001 before we connect
    assert daemon.tg is not None
    daemon.tg.create_task(proxy.serve())
    zone = hostport(plan.traversal_server)
    transport = proxy.transport
    await wait_for(lambda: zone in transport.pool or transport.zone_failure is not None,
                   f"the traversal zone to {zone[0]}:{zone[1]} (up or failed)")
    if zone in transport.pool:
        await daemon.events.reach(ExpresswayCEvent.ZONE_UP, plan.traversal_server)
    else:
        await daemon.events.reach(ExpresswayCEvent.ZONE_DOWN,
                                  f"{plan.traversal_server}: {transport.zone_failure}")
    await daemon.ready()


if __name__ == "__main__":
    sys.exit(main(serve))
