"""What each node daemon is told: ``<run>/config/<node>.json``, computed from the topology.

The lab side (``uclab up``) writes one file per daemon node; the daemon (``nodes/<role>.py``)
reads it back strictly with :mod:`lab.base.datafile` (JSON is YAML), so a daemon never reads the
topology file and a scenario's in-memory overrides (``Topology.with_settings``) reach it.

    cfg = config_for(topo, "uclab", RunDir("uclab"), "expressway-e")
    path.write_text(cfg.to_json())
    cfg = read_config(path)                              # in the daemon
    cfg.settings_as(ExpresswayESettings).turn.relay_ip  # the role's typed settings

Besides the node's own ``settings:`` the file carries what only the whole topology knows, for
the SIP proxies a :class:`SipPlan`: their sides (one per listening address, named after its
interface), listeners (the traversal listener is the ``traversal`` zone) and static routes
whose ``match`` lists every domain and every address reached through that route, found by
walking the SIP neighbours of the topology (client -> outbound proxy, proxy -> next hops and
traversal peers). Cheap to import: no protocol stack, no asyncio.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from lab.base import datafile
from lab.base.datafile import Deferred
from lab.base.errors import LabError
from lab.base.state import RunDir
from lab.daemons.sip_routes import SipGraph, SipPlan
from lab.topology import Node, Topology
from lab.topology.roles import (
    ROLES,
)

T = TypeVar("T")

#: role -> the daemon's module (``python -m nodes.<module>``), from the role registry
DAEMON_MODULES: dict[str, str] = {r.name: r.daemon for r in ROLES.values() if r.daemon}
@dataclass(frozen=True)
class DaemonConfig:
    """Everything one daemon needs. ``after``: control sockets of daemons that must be ready
    before this one connects anywhere (Expressway-C waits for its traversal server).
    ``time_scale`` multiplies the long protocol timers (scenarios may shorten them)."""

    lab: str
    node: str
    role: str
    transport: Literal["tls", "tcp"]
    run: str
    control: str
    addresses: dict[str, str]
    settings: object
    sip: SipPlan | None = None
    after: tuple[str, ...] = ()
    time_scale: float = 1.0

    @property
    def module(self) -> str:
        return DAEMON_MODULES[self.role]

    @property
    def pki(self) -> Path:
        return Path(self.run) / "pki"

    @property
    def address(self) -> str:
        """The node's first address (a single-homed node's only one)."""
        return next(iter(self.addresses.values()))

    def settings_as(self, cls: type[T]) -> T:
        if not isinstance(self.settings, cls):
            raise LabError(f"{self.node}: settings are {type(self.settings).__name__}, "
                           f"not {cls.__name__}")
        return self.settings

    def to_json(self) -> str:
        return json.dumps(_plain(self), indent=1) + "\n"


@dataclass(frozen=True)
class _ConfigFile(DaemonConfig):
    """The file's shape: a daemon's configuration whose settings are read later, by the role's
    own schema (their keys kept for error lines)."""

    settings: Deferred


def _plain(value: Any) -> Any:
    """Plain JSON values; typed scalars (addresses, ports, ranges) as the text they read from."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and not hasattr(
            value, "from_text"):
        return {str(f.metadata.get("key", f.name)): _plain(getattr(value, f.name))
                for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else value
    return str(value)


def read_config(path: Path | str) -> DaemonConfig:
    """Read a daemon's configuration file (strict: an unknown key or a bad value names the
    file, the line and the fix)."""
    doc = datafile.load(path)
    raw = doc.read(_ConfigFile)
    role = ROLES.get(raw.role)
    if role is None or role.settings is None or raw.role not in DAEMON_MODULES:
        raise doc.error(("role",), f"{raw.role!r} is not a daemon role",
                        fix="use one of: " + ", ".join(DAEMON_MODULES))
    settings: object = doc.read(role.settings, raw.settings.keys)
    values = {f.name: getattr(raw, f.name) for f in dataclasses.fields(raw)}
    values["settings"] = settings
    return DaemonConfig(**values)


# --- from the topology ------------------------------------------------------------------------


def daemon_nodes(topo: Topology) -> list[Node]:
    """The nodes that run a daemon, in topology order (:meth:`Topology.daemon_nodes`)."""
    return topo.daemon_nodes()


def config_for(topo: Topology, lab: str, run: RunDir, node: str, *,
               time_scale: float = 1.0) -> DaemonConfig:
    n = topo.node(node)
    if n.role not in DAEMON_MODULES or n.settings is None:
        raise LabError(f"node {node} ({n.role}) runs no daemon")
    graph = SipGraph(topo)
    return DaemonConfig(
        lab=lab, node=node, role=n.role, transport=topo.sip_transport, run=str(run.path),
        control=str(run.control(node)),
        addresses={i.name: str(i.address.ip) for i in n.interfaces if i.address is not None},
        settings=n.settings, sip=graph.plan(n),
        after=tuple(str(run.control(d)) for d in graph.waits_for(n)), time_scale=time_scale)
