"""What lies between a captured frame and its IP packet: link layers, tunnels, IP fragments, and
the account of what could not be read.

* Link types: Ethernet (802.1Q/802.1ad tags), Linux cooked v1/v2 (``tcpdump -i any``; v2
  carries the interface index, so the copies of one packet on two interfaces stay apart), raw
  IP, BSD loopback, PPP (LINKTYPE_PPP 9 and PPP_HDLC 50, RFC 1661/1662).
* Tunnels unwrapped: GRE (RFC 2784/2890: IPv4, IPv6, transparent Ethernet bridging),
  ERSPAN type II and III inside GRE (what a SPAN session sends to a remote analyser),
  IP-in-IP (RFC 2003) and IPv6 in IPv4 / IPv6 (RFC 4213, RFC 2473).
* IP fragments (IPv4, RFC 791; IPv6 Fragment header, RFC 8200 §4.5) are reassembled; the
  packet is dated and numbered by its last fragment.

:class:`DecodeStats` counts what was not read (a frame cut by the snap length, a link type
outside the set, fragments never completed) so that the ladder says so.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field

ETH_IPV4, ETH_IPV6, ETH_VLAN, ETH_QINQ = 0x0800, 0x86DD, 0x8100, 0x88A8
GRE_TEB, GRE_ERSPAN2, GRE_ERSPAN3 = 0x6558, 0x88BE, 0x22EB
PROTO_IPIP, PROTO_IPV6, PROTO_GRE, PROTO_FRAG = 4, 41, 47, 44
_COOKED = {113: (14, 16), 276: (0, 20)}  # Linux cooked v1, v2: protocol offset, header size
_IP_AFTER = {101: 0, 12: 0, 14: 0, 228: 0, 229: 0, 0: 4, 108: 4}  # raw IP, BSD loopback
_PPP = {9, 50}
_PPP_PROTOCOLS = {0x0021: 4, 0x0057: 6}
LINKTYPE_NAMES = {1: "Ethernet", 9: "PPP", 50: "PPP in HDLC framing", 105: "IEEE 802.11",
                  127: "802.11 radiotap", 113: "Linux cooked", 276: "Linux cooked v2"}
MAX_DEPTH = 4  # tunnels inside tunnels


@dataclass
class DecodeStats:
    """What the decoder met and could not read."""

    frames: int = 0
    first_ns: int = 0  # the earliest and latest packet times
    last_ns: int = 0
    cut: int = 0  # frames shorter than on the wire (snap length)
    cut_snaplen: int = 0  # the longest captured length among them
    cut_kinds: Counter[str] = field(default_factory=Counter)  # what the cut frames carried
    linktypes: Counter[int] = field(default_factory=Counter)  # frames of unsupported link types
    tunnels: Counter[str] = field(default_factory=Counter)  # packets unwrapped, per tunnel
    fragments: int = 0  # packets reassembled from fragments
    fragments_left: int = 0  # fragments of packets never completed

    def warnings(self) -> list[str]:
        out: list[str] = []
        if self.cut:
            kinds = ", ".join(f"{k} {n}" for k, n in self.cut_kinds.most_common())
            out.append(f"{self.cut} of {self.frames} packets are cut by the snap length (at "
                       f"most {self.cut_snaplen} bytes captured): the bytes after the cut are "
                       f"not in the capture, messages in them are lost or shown in part"
                       + (f" ({kinds})" if kinds else "")
                       + "; capture again with tcpdump -s 0")
        for linktype, n in sorted(self.linktypes.items()):
            name = LINKTYPE_NAMES.get(linktype, f"link type {linktype}")
            out.append(f"{n} packets of {name} ({linktype}) not read: that link type is not "
                       "decoded (Ethernet, Linux cooked, raw IP, loopback and PPP are)")
        if self.fragments_left:
            out.append(f"{self.fragments_left} IP fragments not read: the rest of their "
                       "packets is not in the capture")
        return out

    def notes(self) -> list[str]:
        """What was decoded beyond the plain case (shown, not warned)."""
        out = [f"{n} packets unwrapped from {t}" for t, n in sorted(self.tunnels.items())]
        if self.fragments:
            out.append(f"{self.fragments} packets reassembled from IP fragments")
        return out


IpPacket = tuple[str, str, int, bytes]  # packed src, packed dst, protocol, payload


class Decapsulator:
    """Frame -> IP payload, through links, tunnels and fragments (stateful: fragments wait)."""

    def __init__(self, stats: DecodeStats) -> None:
        self.stats = stats
        self._frags: dict[tuple[bytes, bytes, int, int], dict[int, tuple[bytes, bool]]] = {}

    def frame(self, linktype: int, data: bytes) -> tuple[str, IpPacket] | None:
        """(sub-interface suffix, IP packet) of one frame, or None (not IP, or waiting)."""
        suffix = ""
        if linktype == 276 and len(data) >= 20:
            suffix = f"#{struct.unpack_from('!I', data, 4)[0]}"  # SLL2's interface index
        ip = self._network(linktype, data)
        if ip is None:
            return None
        packet = self._ip(*ip, depth=0)
        return None if packet is None else (suffix, packet)

    def _network(self, linktype: int, data: bytes) -> tuple[int, bytes] | None:
        if linktype == 1:
            return _ethernet(data)
        if linktype in _COOKED:
            offset, size = _COOKED[linktype]
            if len(data) < size:
                return None
            return _by_ethertype(struct.unpack_from("!H", data, offset)[0], data[size:])
        if linktype in _PPP:
            return _ppp(data)
        skip = _IP_AFTER.get(linktype)
        if skip is None:
            self.stats.linktypes[linktype] += 1
            return None
        return _by_version(data[skip:])

    def _ip(self, version: int, data: bytes, depth: int) -> IpPacket | None:
        parsed = self._ipv4(data) if version == 4 else self._ipv6(data)
        if parsed is None or depth >= MAX_DEPTH:
            return parsed
        proto, body = parsed[2], parsed[3]
        inner: tuple[int, bytes] | None = None
        if proto == PROTO_IPIP:
            inner, name = (4, body), "IP-in-IP"
        elif proto == PROTO_IPV6:
            inner, name = (6, body), "IPv6-in-IP"
        elif proto == PROTO_GRE:
            inner, name = _gre(body)
        if inner is None:
            return parsed
        self.stats.tunnels[name] += 1
        return self._ip(*inner, depth=depth + 1)

    def _ipv4(self, data: bytes) -> IpPacket | None:
        if len(data) < 20:
            return None
        ihl = (data[0] & 0x0F) * 4
        total, ident, frag, _ttl, proto = struct.unpack_from("!HHHBB", data, 2)
        if ihl < 20:
            return None
        end = min(len(data), total) if total >= ihl else len(data)  # Ethernet padding trimmed
        src, dst, body = data[12:16], data[16:20], data[ihl:end]
        if frag & 0x3FFF:  # MF set or an offset: a fragment
            whole = self._fragment((src, dst, proto, ident), (frag & 0x1FFF) * 8, body,
                                   more=bool(frag & 0x2000))
            if whole is None:
                return None
            body = whole
        return _addr(src), _addr(dst), proto, body

    def _ipv6(self, data: bytes) -> IpPacket | None:
        if len(data) < 40:
            return None
        plen, nxt = struct.unpack_from("!HB", data, 4)
        src, dst = data[8:24], data[24:40]
        body = data[40:40 + plen]
        while nxt in (0, 43, 60, PROTO_FRAG) and len(body) >= 8:
            if nxt == PROTO_FRAG:
                nxt, off_flags, ident = body[0], *struct.unpack_from("!HI", body, 2)
                whole = self._fragment((src, dst, nxt, ident), off_flags & 0xFFF8, body[8:],
                                       more=bool(off_flags & 1))
                if whole is None:
                    return None
                body = whole
                continue
            nxt, body = body[0], body[(body[1] + 1) * 8:]
        return _addr(src), _addr(dst), nxt, body

    def _fragment(self, key: tuple[bytes, bytes, int, int], offset: int, data: bytes, *,
                  more: bool) -> bytes | None:
        """Keep a fragment; the whole payload once every byte from 0 to the last is here."""
        parts = self._frags.setdefault(key, {})
        parts[offset] = (data, more)
        last = [o for o, (_d, m) in parts.items() if not m]
        if not last:
            return None
        whole, pos = bytearray(), 0
        for start in sorted(parts):
            chunk = parts[start][0]
            if start > pos:
                return None  # a hole: wait for it
            whole += chunk[pos - start:]
            pos = max(pos, start + len(chunk))
        del self._frags[key]
        self.stats.fragments += 1
        return bytes(whole)

    def finish(self) -> None:
        """Fragments still waiting at the end of the capture are reported."""
        self.stats.fragments_left += sum(len(p) for p in self._frags.values())
        self._frags.clear()


def _ethernet(data: bytes) -> tuple[int, bytes] | None:
    if len(data) < 14:
        return None
    etype, pos = struct.unpack_from("!H", data, 12)[0], 14
    while etype in (ETH_VLAN, ETH_QINQ) and len(data) >= pos + 4:
        etype, pos = struct.unpack_from("!H", data, pos + 2)[0], pos + 4
    return _by_ethertype(etype, data[pos:])


def _ppp(data: bytes) -> tuple[int, bytes] | None:
    """PPP (RFC 1661), with or without the HDLC-like address and control bytes (RFC 1662)."""
    body = data[2:] if data[:2] == b"\xff\x03" else data
    if len(body) < 2:
        return None
    version = _PPP_PROTOCOLS.get(struct.unpack_from("!H", body)[0])
    return None if version is None else (version, body[2:])


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


def _gre(body: bytes) -> tuple[tuple[int, bytes] | None, str]:
    """The packet inside a GRE header (RFC 2784, key and sequence of RFC 2890), and the
    tunnel's name; ERSPAN II (8-byte header) and III (12, or 20 with its platform header)."""
    if len(body) < 4:
        return None, "GRE"
    flags, proto = struct.unpack_from("!HH", body)
    pos = 4 + 4 * sum(1 for bit in (0x8000, 0x2000, 0x1000) if flags & bit)
    payload = body[pos:]
    if proto in (ETH_IPV4, ETH_IPV6):
        return _by_ethertype(proto, payload), "GRE"
    if proto == GRE_TEB:
        return _ethernet(payload), "GRE (Ethernet)"
    if proto == GRE_ERSPAN2 and len(payload) >= 8:
        return _ethernet(payload[8:]), "ERSPAN type II"
    if proto == GRE_ERSPAN3 and len(payload) >= 12:
        skip = 20 if payload[11] & 0x01 else 12  # O bit: a platform-specific subheader
        return _ethernet(payload[skip:]), "ERSPAN type III"
    return None, "GRE"


_ADDRS: dict[bytes, str] = {}


def _addr(packed: bytes) -> str:
    text = _ADDRS.get(packed)
    if text is None:
        import ipaddress  # noqa: PLC0415 - once per address

        text = str(ipaddress.ip_address(packed))
        if len(_ADDRS) < 65536:
            _ADDRS[packed] = text
    return text
