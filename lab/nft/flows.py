"""The required flows of ``docs/spec/ports.md`` as data.

The baseline firewall policies (``topologies/policies/*.nft``) are rendered from this table by
:func:`lab.nft.render.firewall_policy`, so they allow exactly these flows (plus the replies of
established connections) and nothing else. A firewall check can reuse the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Literal

from lab.topology.values import PortRange


@dataclass(frozen=True)
class RequiredFlow:
    """One row of ports.md: a new connection from ``src`` (``sport``) to ``dst``:``dport``."""

    id: str
    firewall: str | None
    proto: Literal["tcp", "udp"]
    src: IPv4Address
    sport: PortRange | None  # None: any source port
    dst: IPv4Address
    dport: PortRange
    why: str


def _flow(row: tuple[str, str | None, str, str | None, str, str, str]) -> RequiredFlow:
    """``(id, firewall, src, sport or None, dst, dport, why)`` as written in ports.md."""
    id_, fw, src, sport, dst, dport, why = row
    return RequiredFlow(id_, fw, "tcp", IPv4Address(src),
                        PortRange.from_text(sport) if sport else None,
                        IPv4Address(dst), PortRange.from_text(dport), why)


REQUIRED_FLOWS: tuple[RequiredFlow, ...] = tuple(_flow(row) for row in (
    ("F1", "fw-outside", "192.168.1.252", None, "192.168.1.229", "5061",
          "SIP from the Skype Edge"),
    ("F2", "fw-outside", "192.168.1.229", "25000-29999", "192.168.1.252", "5061",
          "SIP towards the Edge (new requests from Expressway-E)"),
    ("F3", "fw-inside", "10.48.54.227", "25000-29999", "10.48.54.229", "7001",
          "traversal zone, always opened by Expressway-C"),
    ("F4", "fw-inside", "10.48.54.227", None, "10.48.54.230", "5061",
          "SIP neighbour zone Expressway-C to CMS"),
    ("F5", "fw-inside", "10.48.54.230", None, "10.48.54.229", "3478",
          "CMS TURN control and ConnectionBind connections"),
    ("F6", "fw-outside", "192.168.1.252", "50000-59999", "192.168.1.229", "24000-29999",
          "the Edge connects in to CMS's relayed address"),
    ("F7", None, "192.168.251.128", None, "10.149.4.10", "443",
          "client TURN to its Edge (through sfb-nat)"),
))


def flows_through(firewall: str) -> tuple[RequiredFlow, ...]:
    """The required flows that cross ``firewall``, in ports.md order."""
    return tuple(f for f in REQUIRED_FLOWS if f.firewall == firewall)
