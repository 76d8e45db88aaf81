"""TLS 1.3 records decrypted in-process with the key log, for the live ladder only.

The live view's decrypting pass would otherwise be one tshark run per look at the growing
capture (a second or more on a loaded machine). The lab's daemons speak TLS 1.3 (Python's
``ssl``), whose record protection is small enough to apply here (RFC 8446 §5.2, §7.1-7.3):
per connection, the ClientHello's random names the secrets in the NSS key log
(``CLIENT_HANDSHAKE_TRAFFIC_SECRET``, ``CLIENT_TRAFFIC_SECRET_0`` and the server's), the
ServerHello gives the cipher suite, each record is opened with ``key``/``iv`` from
HKDF-Expand-Label and the record sequence number, handshake keys first, then the application
keys. A stream this cannot open (TLS 1.2, a key update, a record not captured yet) is left out
and stays for the next pass; the run's own ladder, after the call, is decrypted by tshark (the
independent dissector) as always.

    result = decrypt(cap, frames, server_ports, keylog)   # lab.ladder.decrypt.decrypt's shape
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from lab.capture.pcapfile import Capture
from lab.ladder.decrypt import StreamKey, TlsResult
from lab.ladder.packets import segments
from lab.ladder.tcp import Chunk

HANDSHAKE, APPDATA, CCS = 0x16, 0x17, 0x14
#: cipher suite -> (key length, hash), RFC 8446 §B.4; 0x1303 is ChaCha20-Poly1305, the
#: others AES-GCM
SUITES: dict[int, tuple[int, Callable[[], hashes.HashAlgorithm]]] = {
    0x1301: (16, hashes.SHA256), 0x1302: (32, hashes.SHA384), 0x1303: (32, hashes.SHA256)}
Aead = AESGCM | ChaCha20Poly1305


def expand_label(secret: bytes, label: str, length: int, hash_alg: hashes.HashAlgorithm
                 ) -> bytes:
    """HKDF-Expand-Label(secret, label, "", length), RFC 8446 §7.1."""
    full = b"tls13 " + label.encode()
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    return HKDFExpand(hash_alg, length, info).derive(secret)


def keylog_secrets(keylog: bytes) -> dict[tuple[str, bytes], bytes]:
    """(label, client random) -> secret, from NSS key log lines."""
    out: dict[tuple[str, bytes], bytes] = {}
    for line in keylog.decode("ascii", "replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and not parts[0].startswith("#"):
            try:
                out[(parts[0], bytes.fromhex(parts[1]))] = bytes.fromhex(parts[2])
            except ValueError:
                continue
    return out


@dataclass
class _Bytes:
    """One direction's bytes in sequence order, with the frame that brought each span."""

    data: bytearray
    spans: list[tuple[int, int, int]]  # (end offset, frame, ts_ns)

    def at(self, offset: int) -> tuple[int, int]:
        for end, frame, ts in self.spans:
            if offset < end:
                return frame, ts
        return self.spans[-1][1], self.spans[-1][2]


def _streams(cap: Capture, frames: dict[int, StreamKey]) -> dict[StreamKey, _Bytes]:
    by_key: dict[StreamKey, list[tuple[int, int, int, bytes]]] = {}
    for seg in segments(cap):
        key = frames.get(seg.frame)
        if key is not None and seg.payload:
            by_key.setdefault(key, []).append((seg.seq, seg.ts_ns, seg.frame, seg.payload))
    out: dict[StreamKey, _Bytes] = {}
    for key, segs in by_key.items():
        segs.sort()
        first = segs[0][0]
        data = bytearray()
        spans: list[tuple[int, int, int]] = []
        for seq, ts, frame, payload in segs:
            start = (seq - first) % (1 << 32)
            if start > len(data):
                break  # a hole: later bytes wait for the next pass
            new = payload[len(data) - start:]
            if new:
                data += new
                spans.append((len(data), frame, ts))
        out[key] = _Bytes(data, spans)
    return out


def _records(data: bytes) -> list[tuple[int, int, bytes]]:
    """Complete TLS records: (offset, content type, the whole record)."""
    out = []
    pos = 0
    while pos + 5 <= len(data):
        length = struct.unpack_from("!H", data, pos + 3)[0]
        if pos + 5 + length > len(data):
            break
        out.append((pos, data[pos], bytes(data[pos:pos + 5 + length])))
        pos += 5 + length
    return out


def _hello(records: list[tuple[int, int, bytes]], kind: int) -> bytes | None:
    for _pos, ctype, rec in records:
        if ctype == HANDSHAKE and len(rec) > 9 and rec[5] == kind:
            return rec[5:]
    return None


def _suite(server_hello: bytes) -> int | None:
    """The cipher suite of a ServerHello handshake message (RFC 8446 §4.1.3)."""
    body = server_hello[4:]
    if len(body) < 35:
        return None
    sid = body[34]
    pos = 35 + sid
    return struct.unpack_from("!H", body, pos)[0] if len(body) >= pos + 2 else None


class _Opener:
    def __init__(self, suite: int, secrets: list[bytes]) -> None:
        klen, hash_cls = SUITES[suite]
        make = ChaCha20Poly1305 if suite == 0x1303 else AESGCM
        self.keys: list[tuple[Aead, bytes]] = [
            (make(expand_label(s, "key", klen, hash_cls())), expand_label(s, "iv", 12, hash_cls()))
            for s in secrets]
        self.stage, self.seq = 0, 0

    def open(self, record: bytes) -> tuple[int, bytes] | None:
        """(inner content type, content) of one protected record, or None."""
        while self.stage < len(self.keys):
            aead, iv = self.keys[self.stage]
            nonce = bytes(a ^ b for a, b in zip(iv, self.seq.to_bytes(12, "big"), strict=True))
            try:
                inner = aead.decrypt(nonce, record[5:], record[:5])
            except InvalidTag:
                self.stage, self.seq = self.stage + 1, 0  # handshake keys -> application keys
                continue
            self.seq += 1
            body = inner.rstrip(b"\x00")
            return (body[-1], body[:-1]) if body else None
        return None


def decrypt(cap: Capture, frames: dict[int, StreamKey], server_ports: Iterable[int],
            keylog: bytes) -> TlsResult:
    """The application data of every TLS 1.3 stream of ``frames`` this key log opens."""
    secrets = keylog_secrets(keylog)
    streams = _streams(cap, frames)
    result = TlsResult()
    for index in {k[0] for k in streams}:
        up, down = streams.get((index, "up")), streams.get((index, "down"))
        if up is None or down is None:
            continue
        client_hello = _hello(_records(bytes(up.data)), 1)
        server_hello = _hello(_records(bytes(down.data)), 2)
        if client_hello is None or server_hello is None or len(client_hello) < 38:
            continue
        random, suite = client_hello[6:38], _suite(server_hello)
        if suite not in SUITES:
            continue
        for direction, stream, side in (("up", up, "CLIENT"), ("down", down, "SERVER")):
            names = (f"{side}_HANDSHAKE_TRAFFIC_SECRET", f"{side}_TRAFFIC_SECRET_0")
            keys = [secrets.get((n, random)) for n in names]
            if any(k is None for k in keys):
                continue
            chunks = _open_stream(stream, _Opener(suite, [k for k in keys if k is not None]))
            if chunks:
                result.plaintext[(index, direction)] = chunks
    return result


def _open_stream(stream: _Bytes, opener: _Opener) -> list[Chunk]:
    chunks: list[Chunk] = []
    for pos, ctype, rec in _records(bytes(stream.data)):
        if ctype != APPDATA:
            continue
        opened = opener.open(rec)
        if opened is None:
            break
        inner, content = opened
        if inner == APPDATA and content:
            frame, ts = stream.at(pos + len(rec) - 1)
            chunks.append(Chunk(ts, frame, content))
    return chunks
