"""A large capture of mostly unrelated traffic, for bench/bench_ladder.py: the packets of a real
capture of the share (tests/data/ladder/seed-flow-tcp.pcapng) spread through generated
traffic the ladder has no use for, as on a customer's network: TCP downloads (HTTP-like bytes
with their ACKs), DNS-like UDP, and another call's RTP. Written as a pcapng (the seed's
interfaces, and ``customer:uplink`` for the rest) to a path under /tmp, never in the
repository.

    python bench/bigcapture.py /tmp/big.pcapng 1000     # about 1000 MB
"""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path

from lab.capture import PcapngWriter, read_capture

_MACS = bytes.fromhex("02000000aa0102000000bb01")


def _checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ipv4(src: bytes, dst: bytes, proto: int, payload: bytes) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0,
                       src, dst)
    return head[:10] + struct.pack("!H", _checksum(head)) + head[12:] + payload


def _tcp(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    return struct.pack("!HHIIHHHH", sport, dport, seq, ack, (5 << 12) | flags, 65535, 0,
                       0) + payload


def _udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def _frame(ip: bytes) -> bytes:
    return _MACS + b"\x08\x00" + ip


class _Writer:
    def __init__(self, path: Path, interfaces: list[str]) -> None:
        self.out = path.open("wb")
        self.pcapng = PcapngWriter(self.out, "uclab bench")
        for name in interfaces:
            self.pcapng.add_interface(name)
        self.size = 0
        self.count = 0

    def packet(self, ts_ns: int, frame: bytes, iface: int = 0) -> None:
        self.pcapng.write_packet(iface, ts_ns, frame)
        self.size += 32 + len(frame) + (-len(frame) % 4)
        self.count += 1


def generate(path: Path, megabytes: int, seed_capture: Path, rng_seed: int = 212580) -> int:
    """Write ``path``; returns the number of packets."""
    rng = random.Random(rng_seed)
    capture = read_capture(seed_capture)
    seed = sorted(capture.packets, key=lambda p: (p.ts_ns, p.number))  # every interface's view
    writer = _Writer(path, ["customer:uplink"] + [i.name for i in capture.interfaces])
    body = bytes(rng.getrandbits(8) for _ in range(1400))
    http = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + body[:1300]
    rtp_seq, t = 0, 1_700_000_000 * 10**9
    target = megabytes * 1_000_000
    seed_at = target // 2
    flows = [(bytes([10, 99, rng.randrange(256), rng.randrange(1, 255)]),
              bytes([172, 20, rng.randrange(256), rng.randrange(1, 255)]),
              rng.randrange(20000, 60000)) for _ in range(200)]
    state = {i: 1000 for i in range(len(flows))}
    while writer.size < target:
        if seed is not None and writer.size >= seed_at:
            base = seed[0].ts_ns
            for p in seed:
                writer.packet(t + (p.ts_ns - base), p.data, 1 + p.iface)
            t += seed[-1].ts_ns - base
            seed = None  # type: ignore[assignment]
        t += 20_000
        kind = rng.random()
        i = rng.randrange(len(flows))
        client, server, port = flows[i]
        if kind < 0.80:  # a download: data and, every other segment, an ACK
            payload = http if state[i] == 1000 else body
            writer.packet(t, _frame(_ipv4(server, client, 6, _tcp(80, port, state[i], 1, 0x18,
                                                                  payload))))
            state[i] += len(payload)
            if rng.random() < 0.5:
                writer.packet(t + 1000, _frame(_ipv4(client, server, 6, _tcp(
                    port, 80, 1, state[i], 0x10, b""))))
        elif kind < 0.92:  # DNS-like
            query = struct.pack("!HHHHHH", rng.randrange(65536), 0x0100, 1, 0, 0, 0) + \
                b"\x07example\x03com\x00\x00\x01\x00\x01"
            writer.packet(t, _frame(_ipv4(client, bytes([10, 99, 0, 53]), 17,
                                          _udp(port, 53, query))))
        else:  # another call's RTP (G.711, 20 ms)
            rtp_seq += 1
            rtp = struct.pack("!BBHII", 0x80, 8, rtp_seq & 0xFFFF, rtp_seq * 160, 0x1234) + \
                body[:160]
            writer.packet(t, _frame(_ipv4(bytes([10, 98, 0, 1]), bytes([10, 98, 0, 2]), 17,
                                          _udp(40000, 40002, rtp))))
    writer.out.close()
    return writer.count


if __name__ == "__main__":
    repo = Path(__file__).resolve().parent.parent
    out, size = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    n = generate(out, size, repo / "tests" / "data" / "ladder" / "seed-flow-tcp.pcapng")
    print(f"{out}: {n} packets, {out.stat().st_size / 1e6:.0f} MB")
