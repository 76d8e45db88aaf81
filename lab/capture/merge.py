"""Merge per-interface captures into one pcapng, interfaces named ``node:iface``, TLS secrets
embedded.

Wireshark and tshark then open the one file decrypted with no extra option: the key log travels
in a Decryption Secrets Block (pcapng §4.7), as ``editcap --inject-secrets`` would write it.

Each packet appears once per interface that saw it (sender, bridge ports, receiver). By default
the packets are written **interface by interface**, each interface's packets in time order
(``order="interface"``). Interleaving every copy in one time order (``order="time"``) makes
Wireshark's TCP analysis see each copy as a retransmission after "duplicate ACKs" (the copies
of the ACKs), i.e. a *fast* retransmission, which tshark 4.0 feeds to reassembly again and then
reports as malformed ("New fragment overlaps old data"). Grouped by interface, tshark reads the
merged file with no malformed packet; ``frame.interface_name == "cms:eth0"`` shows one point of
view, and sorting on the Time column interleaves them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.capture.pcapfile import Capture, Packet, PcapngWriter, read_capture

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Part:
    """One single-interface capture file and the name its interface gets in the merged file."""

    name: str  # "node:iface"
    path: Path
    description: str = ""


@dataclass(frozen=True, slots=True)
class MergeResult:
    path: Path
    interfaces: int
    packets: int
    truncated: tuple[str, ...]  # names of parts whose file was cut short


def merge_parts(parts: Sequence[Part], out: Path, keylog: bytes = b"", *,
                order: str = "interface") -> MergeResult:
    """Write ``out``: every packet of every part, grouped by interface in the parts' order and
    in time order within each (``order="interface"``), or all in one time order (``"time"``).

    A part's file may hold several interfaces (a pcapng from dumpcap): each keeps its own name
    prefixed by the part's node (``node:ifname``) unless the part has exactly one interface.
    """
    captures: list[tuple[Part, Capture]] = [(p, read_capture(p.path)) for p in parts]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    count = 0
    with tmp.open("wb") as stream:
        writer = PcapngWriter(stream)
        ids: list[list[int]] = []
        for part, cap in captures:
            ids.append([
                writer.add_interface(_iface_name(part, cap, i), iface.linktype,
                                     description=part.description)
                for i, iface in enumerate(cap.interfaces)
            ])
        writer.add_tls_keylog(keylog)
        # sorted, even within one interface: a tcpdump file is not always in time order
        # (packets timestamped on different CPUs)
        packets = sorted(p for k, (_part, cap) in enumerate(captures)
                         for p in _keyed(k, cap, ids[k]))
        if order == "interface":
            packets.sort(key=lambda p: p[3])  # stable: time order kept within an interface
        elif order != "time":
            raise ValueError(f"order must be 'interface' or 'time', not {order!r}")
        for _ts, _k, _n, iface, pkt in packets:
            writer.write_packet(iface, pkt.ts_ns, pkt.data, pkt.orig_len)
            count += 1
    tmp.replace(out)
    truncated = tuple(p.name for p, cap in captures if cap.truncated)
    if truncated:
        log.warning("capture parts cut short (last packet lost): %s", ", ".join(truncated))
    return MergeResult(out, sum(len(i) for i in ids), count, truncated)


def _keyed(k: int, cap: Capture, ids: list[int]) -> Iterator[tuple[int, int, int, int, Packet]]:
    for pkt in cap.packets:
        yield pkt.ts_ns, k, pkt.number, ids[pkt.iface], pkt


def _iface_name(part: Part, cap: Capture, index: int) -> str:
    if len(cap.interfaces) == 1:
        return part.name
    node = part.name.split(":", 1)[0]
    return f"{node}:{cap.interfaces[index].name}"
