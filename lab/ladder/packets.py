"""From captured frames to TCP segments and UDP datagrams: link layers, IPv4/IPv6, TCP, UDP.

Link types handled: Ethernet (with 802.1Q/802.1ad tags), Linux cooked v1/v2 (``tcpdump -i any``),
raw IP, BSD loopback. Anything else (ARP, ICMP, IP fragments, other link types) is skipped: a
customer capture holds plenty of traffic the ladder has no use for.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from lab.capture.pcapfile import Capture

ETH_IPV4, ETH_IPV6, ETH_VLAN, ETH_QINQ = 0x0800, 0x86DD, 0x8100, 0x88A8
PROTO_TCP, PROTO_UDP = 6, 17
TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
_IPV6_EXTENSIONS = {0, 43, 60}  # hop-by-hop, routing, destination options


@dataclass(frozen=True, slots=True)
class Segment:
    """One TCP segment or UDP datagram."""

    frame: int
    ts_ns: int
    iface: str
    proto: int  # 6 or 17
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes
    seq: int = 0
    ack: int = 0
    flags: int = 0


def segments(cap: Capture) -> Iterator[Segment]:
    """Every TCP segment and UDP datagram of ``cap``, in file order."""
    names = [i.name for i in cap.interfaces]
    links = [i.linktype for i in cap.interfaces]
    for pkt in cap.packets:
        ip = _network(links[pkt.iface], pkt.data)
        if ip is None:
            continue
        version, data = ip
        parsed = _ipv4(data) if version == 4 else _ipv6(data)
        if parsed is None:
            continue
        src, dst, proto, body = parsed
        seg = _transport(proto, body)
        if seg is None:
            continue
        sport, dport, payload, seq, ack, flags = seg
        yield Segment(pkt.number, pkt.ts_ns, names[pkt.iface], proto, src, sport, dst, dport,
                      payload, seq, ack, flags)


_COOKED = {113: (14, 16), 276: (0, 20)}  # Linux cooked v1, v2: protocol offset, header size
_IP_AFTER = {101: 0, 12: 0, 14: 0, 228: 0, 229: 0, 0: 4, 108: 4}  # raw IP, BSD loopback


def _network(linktype: int, data: bytes) -> tuple[int, bytes] | None:
    """(IP version, IP packet) from a frame, or None."""
    if linktype == 1:  # Ethernet
        if len(data) < 14:
            return None
        etype, pos = struct.unpack_from("!H", data, 12)[0], 14
        while etype in (ETH_VLAN, ETH_QINQ) and len(data) >= pos + 4:
            etype, pos = struct.unpack_from("!H", data, pos + 2)[0], pos + 4
        return _by_ethertype(etype, data[pos:])
    if linktype in _COOKED:
        offset, size = _COOKED[linktype]
        if len(data) < size:
            return None
        return _by_ethertype(struct.unpack_from("!H", data, offset)[0], data[size:])
    skip = _IP_AFTER.get(linktype)
    return None if skip is None else _by_version(data[skip:])


def _by_ethertype(etype: int, data: bytes) -> tuple[int, bytes] | None:
    if etype == ETH_IPV4:
        return 4, data
    if etype == ETH_IPV6:
        return 6, data
    return None


def _by_version(data: bytes) -> tuple[int, bytes] | None:
    if not data:
        return None
    version = data[0] >> 4
    return (version, data) if version in (4, 6) else None


def _ipv4(data: bytes) -> tuple[str, str, int, bytes] | None:
    if len(data) < 20:
        return None
    ihl = (data[0] & 0x0F) * 4
    total, _ident, frag, _ttl, proto = struct.unpack_from("!HHHBB", data, 2)
    if frag & 0x3FFF or ihl < 20:  # a fragment (MF set or an offset): not reassembled
        return None
    end = min(len(data), total) if total >= ihl else len(data)  # Ethernet padding trimmed
    return _addr(data[12:16]), _addr(data[16:20]), proto, data[ihl:end]


@functools.lru_cache(maxsize=4096)
def _addr(packed: bytes) -> str:
    return str(ipaddress.ip_address(packed))


def _ipv6(data: bytes) -> tuple[str, str, int, bytes] | None:
    if len(data) < 40:
        return None
    plen, nxt = struct.unpack_from("!HB", data, 4)
    body = data[40:40 + plen]
    while nxt in _IPV6_EXTENSIONS and len(body) >= 8:
        nxt, body = body[0], body[(body[1] + 1) * 8:]
    return _addr(data[8:24]), _addr(data[24:40]), nxt, body


def _transport(proto: int, body: bytes) -> tuple[int, int, bytes, int, int, int] | None:
    if proto == PROTO_TCP and len(body) >= 20:
        sport, dport, seq, ack, off_flags = struct.unpack_from("!HHIIH", body)
        offset = (off_flags >> 12) * 4
        if offset < 20:
            return None
        return sport, dport, body[offset:], seq, ack, off_flags & 0x3F
    if proto == PROTO_UDP and len(body) >= 8:
        sport, dport, length = struct.unpack_from("!HHH", body)
        end = length if 8 <= length <= len(body) else len(body)
        return sport, dport, body[8:end], 0, 0, 0
    return None
