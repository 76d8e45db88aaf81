"""Which address is which column: the seed's four columns (Skype for Business | Expressway-E |
Expressway-C | Meeting Server), from a names file, from the lab, or inferred from the traffic.

A names file (``uclab ladder --names FILE``)::

    columns:
      sfb:           {label: Skype for Business, addresses: [192.168.1.252, 10.149.4.10]}
      expressway-e:  {addresses: [192.168.1.229, 10.48.54.229]}
      expressway-c:  {addresses: [10.48.54.227]}
      cms:           {label: Meeting Server, addresses: [10.48.54.230]}
    hosts:                       # optional: names of other addresses, shown in notes
      192.168.251.128: sfb-client

Without a file, a capture made by the lab (every interface named ``node:iface`` after a node of
the default topology) gets the topology's columns; any other capture gets columns inferred from
its traffic: the screen-share INVITE's hops in time order give the chain of SIP nodes (the last
four are the columns, earlier ones are named hosts), and an RFC 6062 allocation (a TCP relay,
REQUESTED-TRANSPORT 6) adds Expressway-E and its relayed address, if its client is that Meeting
Server or it received a ConnectionAttempt. No other traffic gives an address a column.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lab.base import datafile
from lab.base.errors import InputError
from lab.ladder.events import Event, Kind

if TYPE_CHECKING:
    from lab.topology import Topology

ROLES: tuple[str, ...] = ("sfb", "expressway-e", "expressway-c", "cms")
LABELS: dict[str, str] = {
    "sfb": "Skype for Business", "expressway-e": "Expressway-E",
    "expressway-c": "Expressway-C", "cms": "Meeting Server",
}


@dataclass(frozen=True)
class Column:
    role: str
    label: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Names:
    """The columns, in the seed's order, and names for other addresses."""

    columns: tuple[Column, ...]
    hosts: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def role_of(self, ip: str) -> str | None:
        for col in self.columns:
            if ip in col.addresses:
                return col.role
        return None

    def column_index(self, role: str) -> int:
        return [c.role for c in self.columns].index(role)

    def column(self, role: str) -> Column:
        return self.columns[self.column_index(role)]

    def name_of(self, ip: str) -> str:
        """A column label or host name for ``ip``, or the address itself."""
        role = self.role_of(ip)
        if role is not None:
            return self.column(role).label
        return self.hosts.get(ip, ip)


def make_names(addresses: Mapping[str, Sequence[str]], *, labels: dict[str, str] | None = None,
               hosts: dict[str, str] | None = None, source: str = "") -> Names:
    """Names from ``role -> addresses`` (roles absent get an empty column)."""
    labels = {**LABELS, **(labels or {})}
    cols = tuple(Column(r, labels[r], tuple(addresses.get(r, ()))) for r in ROLES)
    return Names(cols, dict(hosts or {}), source)


# --- from the lab's topology -----------------------------------------------------------------

#: topology role -> column (the other nodes' addresses become host names)
ROLE_COLUMNS: dict[str, str] = {"sfb-edge": "sfb", "expressway-e": "expressway-e",
                                "expressway-c": "expressway-c", "cms": "cms"}


def names_from_topology(topo: Topology) -> Names:
    """The columns of a lab: each column's node's addresses; other nodes by name."""
    columns: dict[str, list[str]] = {}
    hosts: dict[str, str] = {}
    for node in topo.nodes:
        addresses = [str(a) for a in node.addresses]
        role = ROLE_COLUMNS.get(node.role)
        if role is None:
            hosts.update(dict.fromkeys(addresses, node.name))
        else:
            columns.setdefault(role, []).extend(addresses)
    return make_names(columns, hosts=hosts, source=f"topology {topo.name}")


def lab_names_for(interfaces: Sequence[str]) -> Names | None:
    """The default topology's columns if every interface of a capture is ``node:iface`` of one
    of its nodes (a capture made by ``uclab run``), else None."""
    topo = lab_topology_for(interfaces)
    return names_from_topology(topo) if topo is not None else None


def lab_topology_for(interfaces: Sequence[str]) -> Topology | None:
    """The default topology if every interface of a capture is ``node:iface`` of one of its
    nodes, else None."""
    from lab.topology import load  # noqa: PLC0415 - only when a capture may be the lab's

    nodes = {name.split(":", 1)[0] for name in interfaces if ":" in name}
    if not nodes or len(nodes) != len({i.split(":", 1)[0] for i in interfaces}):
        return None
    try:
        topo = load()
    except (OSError, ValueError, InputError):
        return None
    if not nodes <= {n.name for n in topo.nodes}:
        return None
    return topo


# --- names file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _ColumnFile:
    addresses: tuple[str, ...]
    label: str | None = None


@dataclass(frozen=True)
class _NamesFile:
    columns: dict[str, _ColumnFile]
    hosts: dict[str, str] = field(default_factory=dict)


def load_names(path: Path | str) -> Names:
    """Read a names file; a wrong role or address is an InputError naming file, line and fix."""
    doc = datafile.load(path)
    model = doc.read(_NamesFile)
    owner: dict[str, str] = {}
    for role, col in model.columns.items():
        if role not in ROLES:
            raise doc.error(("columns", role), f"unknown column {role!r}",
                            fix=f"use one of: {', '.join(ROLES)}")
        for i, addr in enumerate(col.addresses):
            _check_ip(doc, ("columns", role, "addresses", i), addr)
            if owner.setdefault(addr, role) != role:
                raise doc.error(("columns", role, "addresses", i),
                                f"{addr} is in two columns, {owner[addr]} and {role}",
                                fix="give each address to one column only")
    for addr in model.hosts:
        _check_ip(doc, ("hosts", addr), addr)
    return make_names(
        {r: c.addresses for r, c in model.columns.items()},
        labels={r: c.label for r, c in model.columns.items() if c.label},
        hosts=dict(model.hosts), source=f"names file {path}")


def _check_ip(doc: datafile.Document, keys: datafile.KeyPath, text: str) -> None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise doc.error(keys, f"{text!r} is not an IP address",
                        fix="write an IPv4 or IPv6 address such as 192.168.1.229") from None


# --- inference ----------------------------------------------------------------------------


def infer_names(events: Iterable[Event]) -> Names:
    """Columns guessed from the traffic (see the module docstring)."""
    evs = list(events)
    nodes = _sip_chain(evs)
    roles: dict[str, list[str]] = {r: [] for r in ROLES}
    hosts: dict[str, str] = {}
    if len(nodes) >= 4:
        for role, node in zip(ROLES, nodes[-4:], strict=True):
            roles[role] = list(dict.fromkeys(node))
        for i, node in enumerate(nodes[:-4]):  # the Skype client, then NAT or proxies
            hosts.update(dict.fromkeys(node, "Skype client" if i == 0 else "Skype side"))
    _add_turn(evs, roles)
    how = "inferred from the traffic (SIP hops and TURN); give --names FILE to set them"
    return make_names(roles, hosts=hosts, source=how)


def _sip_chain(evs: list[Event]) -> list[list[str]]:
    """Nodes of the share INVITE's path: hop i's receiver and hop i+1's sender are one node."""
    hops: list[tuple[str, str]] = []
    for ev in evs:
        s = ev.sip
        if (ev.kind is Kind.SIP and s is not None and s.method == "INVITE" and not s.to_tag
                and "applicationsharing" in s.media
                and (ev.src.ip, ev.dst.ip) not in hops):
            hops.append((ev.src.ip, ev.dst.ip))
    if not hops:
        return []
    nodes = [[hops[0][0]]]
    for i, (_src, dst) in enumerate(hops):
        node = [dst]
        if i + 1 < len(hops) and hops[i + 1][0] != dst:
            node.append(hops[i + 1][0])
        nodes.append(node)
    return nodes


def _tcp_allocations(evs: list[Event]) -> list[Event]:
    """Allocate successes of RFC 6062 allocations: over TCP or TLS, answering a request for a
    TCP relay (REQUESTED-TRANSPORT 6). A browser's TURN-over-TCP allocation of a UDP relay
    (REQUESTED-TRANSPORT 17) is not the share's and is no evidence for any column."""
    tcp_requests = {e.stun.transaction_id for e in evs if e.stun is not None
                    and e.stun.method == "Allocate" and e.stun.cls == "request"
                    and e.transport != "UDP" and e.stun.requested_transport == 6}
    return [e for e in evs if e.stun is not None and e.stun.method == "Allocate"
            and e.stun.cls == "success" and e.transport != "UDP"
            and e.stun.transaction_id in tcp_requests]


def _add_turn(evs: list[Event], roles: dict[str, list[str]]) -> None:
    """Expressway-E (and its relayed address) and the Meeting Server from an RFC 6062
    allocation, only with evidence of this flow: its client is the Meeting Server the share
    INVITE's hops gave, or it received a ConnectionAttempt (the Edge connects *in*, RFC 6062
    §4.3) whose peer, the Edge, then gets its column too."""
    allocs = _tcp_allocations(evs)
    attempts = [e for e in evs if e.stun is not None and e.stun.method == "ConnectionAttempt"]
    if roles["cms"]:
        allocs = [e for e in allocs if e.dst.ip in roles["cms"]]
    else:
        announced = {e.conn for e in attempts}
        allocs = [e for e in allocs if e.conn is not None and e.conn in announced]
        attempts = [e for e in attempts if e.conn in {a.conn for a in allocs}]
    for ev in allocs:
        _add(roles["expressway-e"], ev.src.ip)
        if ev.stun is not None and ev.stun.xor_relayed is not None:
            _add(roles["expressway-e"], ev.stun.xor_relayed.ip)
        _add(roles["cms"], ev.dst.ip)
    if roles["sfb"] or not allocs:
        return
    taken = {a for addrs in roles.values() for a in addrs}
    for ev in attempts:
        st = ev.stun
        if st is not None and st.xor_peer and st.xor_peer[0].ip not in taken:
            _add(roles["sfb"], st.xor_peer[0].ip)


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)
