"""TLS plaintext from tshark, the independent dissector: one tshark pass over only the frames of
the TLS connections, with the key log embedded as a Decryption Secrets Block.

Our own code does everything else (TCP reassembly, STUN, SIP, RTP); decrypting TLS 1.2 and 1.3
records with a key log is tshark's job (its TLS dissector, RFC 8446 §7 key schedule). The
frames are piped to ``tshark -r -`` as a small pcapng, the SIP dissector is switched off so that
decrypted bytes come out raw as ``data.data``, one line per frame; they are then cut into SIP
messages by :mod:`lab.ladder.streams` like any clear-text stream.
"""

from __future__ import annotations

import functools
import io
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lab.capture.pcapfile import Capture, Packet, PcapngWriter
from lab.ladder.tcp import Chunk
from lab.proto.ascii import is_digits

log = logging.getLogger(__name__)

StreamKey = tuple[int, str]  # (connection index, "up"/"down")


@dataclass
class TlsResult:
    plaintext: dict[StreamKey, list[Chunk]] = field(default_factory=dict)
    warning: str = ""


def decrypt(cap: Capture, frames: dict[int, StreamKey], server_ports: Iterable[int],
            keylog: bytes, *, timeout: float = 30.0,
            packet: Callable[[int], Packet] | None = None) -> TlsResult:
    """Plaintext chunks of the TLS streams whose frames are ``frames`` (frame -> stream);
    ``packet`` finds a frame by number (default: in ``cap.packets``, a capture read whole)."""
    lookup = packet if packet is not None else (lambda n: cap.packets[n - 1])
    if not frames:
        return TlsResult()
    if not keylog.strip():
        return TlsResult(warning="TLS connections not decrypted: no key log in the capture "
                                 "(give --keylog FILE)")
    tshark = shutil.which("tshark")
    if tshark is None:
        return TlsResult(warning="TLS connections not decrypted: tshark is not installed")
    # in time order: the two directions may come from interfaces far apart in the file
    order = sorted(frames, key=lambda n: (lookup(n).ts_ns, n))
    argv = [tshark, "-r", "-", "-n", "--disable-protocol", "sip", "-T", "fields",
            "-e", "frame.number", "-e", "data.data", "-E", "occurrence=a"]
    # a client port in tshark's TLS port table (27017 is MongoDB's, and Expressway takes its
    # source ports from 25000-29999) would hand the plaintext to that dissector instead
    for name in sorted(set(tls_port_table(tshark).values()) - {"sip"}):
        argv += ["--disable-protocol", name]
    for port in sorted(set(server_ports)):
        argv += ["-d", f"tcp.port=={port},tls"]
    try:
        proc = subprocess.run(argv, input=_subset(cap, lookup, order, keylog), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return TlsResult(warning=f"TLS connections not decrypted: tshark took over {timeout} s")
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        return TlsResult(warning=f"TLS connections not decrypted: tshark failed: {err[-1:]}")
    return TlsResult(_plaintext(lookup, order, frames, proc.stdout))


@functools.cache
def tls_port_table(tshark: str) -> dict[int, str]:
    """tshark's ``tls.port`` table (``tshark -G decodes``): port -> the dissector it hands a
    TLS session's plaintext to when either end uses that port (443 http, 5061 sip, 27017
    mongo...)."""
    try:
        out = subprocess.run([tshark, "-G", "decodes"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    table: dict[int, str] = {}
    for line in out.splitlines():
        cols = line.split("\t")
        if len(cols) == 3 and cols[0] == "tls.port" and is_digits(cols[1]):
            table[int(cols[1])] = cols[2]
    return table


def _subset(cap: Capture, lookup: Callable[[int], Packet], order: list[int],
            keylog: bytes) -> bytes:
    out = io.BytesIO()
    writer = PcapngWriter(out)
    for iface in cap.interfaces:
        writer.add_interface(iface.name, iface.linktype)
    writer.add_tls_keylog(keylog)
    for number in order:
        pkt = lookup(number)
        writer.write_packet(pkt.iface, pkt.ts_ns, pkt.data, pkt.orig_len)
    return out.getvalue()


def _plaintext(lookup: Callable[[int], Packet], order: list[int],
               frames: dict[int, StreamKey], output: bytes) -> dict[StreamKey, list[Chunk]]:
    result: dict[StreamKey, list[Chunk]] = {}
    for line in output.decode("ascii", errors="replace").splitlines():
        number, _, hexdata = line.partition("\t")
        if not hexdata.strip() or not is_digits(number.strip()):
            continue
        index = int(number) - 1
        if not 0 <= index < len(order):
            continue
        original = order[index]
        try:
            data = b"".join(bytes.fromhex(part) for part in hexdata.strip().split(","))
        except ValueError:
            log.warning("tshark gave unreadable data for frame %d", original)
            continue
        key = frames[original]
        result.setdefault(key, []).append(Chunk(lookup(original).ts_ns, original, data))
    return result


def client_random(first: bytes) -> bytes | None:
    """The 32-byte random of the ClientHello that ``first`` (a client's first bytes) starts
    with (RFC 8446 §4.1.2: record header 5, handshake header 4, version 2), else None."""
    if len(first) < 43 or first[0] != 0x16 or first[5] != 0x01:
        return None
    return first[11:43]


def opaque_reason(client_first: bytes, keylog: bytes) -> str:
    """Why a TLS connection whose client sent ``client_first`` stayed encrypted."""
    random = client_random(client_first)
    if random is None:
        return "its handshake (ClientHello) is not in the capture"
    if not keylog.strip():
        return "no TLS key log (give --keylog FILE)"
    if random.hex().encode() not in keylog.lower():
        return "the key log has no secrets for its ClientHello"
    return ("the key log has its secrets, yet tshark could not decrypt it (records missing "
            "from the capture?)")

