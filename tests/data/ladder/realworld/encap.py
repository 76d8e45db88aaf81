"""Re-encapsulate the packets of a capture for text2pcap (make.sh): reads ``tshark -x``
hex dumps of an Ethernet or Linux cooked v2 capture and writes, for each packet, a timestamp
line and an od-style hex dump of the same IP packet wrapped as asked, which ``text2pcap -t
%s.%f -l LINKTYPE`` turns into a capture again. Only headers are written here; every inner
byte is the captured packet's.

    python3 encap.py KIND IN.pcap | text2pcap -q -t %s.%f -l LINKTYPE - OUT.pcap

with KIND gre, ipip or erspan (LINKTYPE 1) or ppp (LINKTYPE 9).

* gre: Ethernet / IPv4 (proto 47) / GRE (RFC 2784, protocol 0x0800) / the IPv4 packet
* ipip: Ethernet / IPv4 (proto 4, RFC 2003) / the IPv4 packet
* erspan: Ethernet / IPv4 / GRE with sequence number, protocol 0x88BE / ERSPAN type II
  header (8 bytes, session 12) / the whole Ethernet frame (what a Cisco SPAN session sends)
* ppp: PPP in HDLC-like framing (RFC 1662: FF 03, protocol 0x0021) / the IPv4 packet,
  for libpcap's LINKTYPE_PPP (9)
"""

from __future__ import annotations

import struct
import subprocess
import sys

OUTER = (bytes.fromhex("020000000002"), bytes.fromhex("020000000001"))  # outer MACs
TUNNEL = (bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))  # outer IPv4 (TEST-NET-1)


def frames(path: str) -> list[tuple[str, bytes]]:
    times = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.time_epoch"],
                           capture_output=True, text=True, check=True).stdout.split()
    dump = subprocess.run(["tshark", "-r", path, "-x"], capture_output=True, text=True,
                          check=True).stdout
    out: list[bytes] = []
    current = bytearray()
    for line in [*dump.splitlines(), ""]:
        if not line.strip():
            if current:
                out.append(bytes(current))
                current = bytearray()
            continue
        hexpart = line[6:53].split()
        current += bytes(int(h, 16) for h in hexpart)
    return list(zip(times, out, strict=True))


def checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(proto: int, payload: bytes, ident: int) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64, proto, 0,
                       *TUNNEL)
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:] + payload


def ipv4_of(frame: bytes) -> bytes | None:
    """The IPv4 packet of an Ethernet or Linux cooked v2 (``tcpdump -i any``) frame."""
    if frame[12:14] == b"\x08\x00":
        return frame[14:]
    if frame[0:2] == b"\x08\x00" and len(frame) > 20 and frame[20] >> 4 == 4:
        return frame[20:]
    return None


def wrap(kind: str, ip: bytes, n: int) -> bytes:
    eth = OUTER[0] + OUTER[1] + b"\x08\x00"
    frame = OUTER[1] + OUTER[0] + b"\x08\x00" + ip  # the inner frame a SPAN port mirrors
    if kind == "gre":
        return eth + ipv4(47, struct.pack("!HH", 0, 0x0800) + ip, n)
    if kind == "ipip":
        return eth + ipv4(4, ip, n)
    if kind == "erspan":
        gre = struct.pack("!HHI", 0x1000, 0x88BE, n)  # S bit: a sequence number follows
        erspan = struct.pack("!HHI", 0x1000, 12, 0)  # version 1 (type II), VLAN 0, session 12
        return eth + ipv4(47, gre + erspan + frame, n)
    if kind == "ppp":
        return b"\xff\x03\x00\x21" + ip
    raise SystemExit(f"unknown encapsulation {kind}")


def main() -> None:
    kind, path = sys.argv[1], sys.argv[2]
    for n, (ts, frame) in enumerate(frames(path), 1):
        ip = ipv4_of(frame)
        if ip is None:
            continue  # IPv4 only (ARP, IPv6 left out)
        data = wrap(kind, ip, n)
        print(ts.split(".")[0] + "." + ts.split(".")[1][:6])
        for off in range(0, len(data), 16):
            print(f"{off:06x} " + " ".join(f"{b:02x}" for b in data[off:off + 16]))
        print()


if __name__ == "__main__":
    main()
