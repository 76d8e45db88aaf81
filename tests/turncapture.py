"""Capture checks for the TURN interop tests, independent of our STUN codec.

The capture itself is :func:`tests.nethelp.tcpdump`.

* :func:`tshark_check` asks tshark to decode the capture: it must find the STUN/TURN messages
  and report no malformed packet and no error-level expert info.
* :func:`stun_messages` re-frames the TCP byte streams to and from the TURN port itself and
  :func:`check_integrity` recomputes MESSAGE-INTEGRITY (HMAC-SHA1 under
  MD5(user:realm:password)) and FINGERPRINT (CRC-32 xor 0x5354554E) with hashlib/zlib only,
  so a bug in ``lab.proto.stun`` cannot hide itself.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

COOKIE = b"\x21\x12\xa4\x42"
CONNECTION_BIND = 0x00B


@dataclass(frozen=True)
class Captured:
    stream: int
    src: str
    raw: bytes

    @property
    def method(self) -> int:
        t = int.from_bytes(self.raw[:2], "big")
        return (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80)

    @property
    def cls(self) -> int:
        t = int.from_bytes(self.raw[:2], "big")
        return ((t >> 4) & 1) | ((t >> 7) & 2)


def tshark_text(pcap: Path, *args: str) -> str:
    proc = subprocess.run(["tshark", "-r", str(pcap), "-n", *args], capture_output=True,
                          text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _segments(pcap: Path, port: int) -> dict[tuple[int, str], bytes]:
    """The TCP payload bytes of each stream direction touching ``port``, in sequence order: a
    segment TCP sent again (a loaded machine retransmits now and then) adds only bytes not
    already there."""
    out = tshark_text(pcap, "-o", "tcp.desegment_tcp_streams:FALSE", "-Y",
                      f"tcp.port == {port} && tcp.len > 0", "-T", "fields", "-e", "tcp.stream",
                      "-e", "ip.src", "-e", "tcp.srcport", "-e", "tcp.seq", "-e", "tcp.payload")
    pieces: dict[tuple[int, str], list[tuple[int, bytes]]] = {}
    for row in out.splitlines():
        stream, src, sport, seq, payload = row.split("\t")
        pieces.setdefault((int(stream), f"{src}:{sport}"), []).append(
            (int(seq), bytes.fromhex(payload.replace(":", ""))))
    streams: dict[tuple[int, str], bytes] = {}
    for key, segs in pieces.items():
        segs.sort(key=lambda p: p[0])
        base, data = segs[0][0], b""
        for at, chunk in segs:
            skip = base + len(data) - at  # bytes of this segment already there
            if skip < len(chunk):
                data += chunk[max(skip, 0):]
        streams[key] = data
    return streams


def stun_messages(pcap: Path, port: int) -> list[Captured]:
    """Every STUN message on the TCP streams of ``port``: plain STUN framing (RFC 8489 §6.2.2)
    until a ConnectionBind, after which a data connection carries raw relayed bytes."""
    found: list[Captured] = []
    for (stream, src), data in sorted(_segments(pcap, port).items()):
        pos = 0
        while pos + 20 <= len(data) and data[pos] & 0xC0 == 0 and data[pos + 4:pos + 8] == COOKIE:
            length = struct.unpack("!H", data[pos + 2:pos + 4])[0]
            msg = Captured(stream, src, data[pos:pos + 20 + length])
            found.append(msg)
            pos += 20 + length
            if msg.method == CONNECTION_BIND:
                break
    return found


def _attributes(raw: bytes) -> Iterator[tuple[int, int, int]]:
    pos = 20
    while pos + 4 <= len(raw):
        atype, alen = struct.unpack("!HH", raw[pos:pos + 4])
        yield pos, atype, alen
        pos += 4 + alen + (-alen % 4)


def check_integrity(msg: Captured, key: bytes) -> tuple[bool | None, bool | None]:
    """(MESSAGE-INTEGRITY ok, FINGERPRINT ok); None where the message has none."""
    mi_ok: bool | None = None
    fp_ok: bool | None = None
    raw = msg.raw
    for pos, atype, alen in _attributes(raw):
        if atype == 0x0008 and mi_ok is None:
            head = raw[:2] + struct.pack("!H", pos - 20 + 24) + raw[4:pos]
            mac = hmac.new(key, head, hashlib.sha1).digest()
            mi_ok = hmac.compare_digest(mac, raw[pos + 4:pos + 4 + alen])
        elif atype == 0x8028:
            head = raw[:2] + struct.pack("!H", pos - 20 + 8) + raw[4:pos]
            want = (zlib.crc32(head) ^ 0x5354554E) & 0xFFFFFFFF
            fp_ok = struct.unpack("!I", raw[pos + 4:pos + 8])[0] == want
    return mi_ok, fp_ok


def long_term(user: str, realm: str, password: str) -> bytes:
    return hashlib.md5(f"{user}:{realm}:{password}".encode(), usedforsecurity=False).digest()


def tshark_check(pcap: Path, port: int) -> int:
    """tshark decodes the capture with no malformed packet and no error; returns how many
    STUN messages it decoded on ``port``."""
    bad = tshark_text(pcap, "-Y", "_ws.malformed || _ws.expert.severity == error")
    assert bad.strip() == "", f"tshark reports malformed packets:\n{bad}"
    types = tshark_text(pcap, "-Y", f"stun && tcp.port == {port}", "-T", "fields", "-e",
                        "stun.type")
    return sum(len(row.split(",")) for row in types.splitlines() if row.strip())
