"""In-process TLS 1.3 record decryption of the live view, on RFC 8448's key schedule vector and
a real SIP-over-TLS capture with its key log (tests/data/ladder/sip-tls-from-port-27017.pcapng)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cryptography.hazmat.primitives import hashes

from lab.capture.pcapfile import read_capture
from lab.ladder import build_ladder
from lab.ladder.events import Kind
from lab.web import tls13

CAPTURE = (Path(__file__).resolve().parent.parent / "data" / "ladder"
           / "sip-tls-from-port-27017.pcapng")


def test_expand_label_matches_rfc_8448() -> None:
    # RFC 8448 §3, {server} derive write traffic keys for handshake data
    secret = bytes.fromhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
    assert tls13.expand_label(secret, "key", 16, hashes.SHA256()).hex() == (
        "3fce516009c21727d0f2e4e86ee403bc")
    assert tls13.expand_label(secret, "iv", 12, hashes.SHA256()).hex() == (
        "5d313eb2671276ee13000b30")


def test_the_captures_sip_is_read_without_tshark() -> None:
    cap = read_capture(CAPTURE)
    assert cap.tls_keylog
    ladder = build_ladder(cap, decryptor=tls13.decrypt)
    sip = [e for e in ladder.analysis.events if e.kind is Kind.SIP]
    assert ladder.analysis.tls_opaque == 0 and ladder.analysis.tls_decrypted > 0
    assert any(e.sip is not None and e.sip.method == "INVITE" for e in sip)
    assert all(e.sip is not None and e.sip.text.startswith(e.sip.start_line) for e in sip)
    # without the key log nothing opens, and the ladder says so
    closed = build_ladder(dataclasses.replace(cap, tls_keylog=b""), decryptor=tls13.decrypt)
    assert not [e for e in closed.analysis.events if e.kind is Kind.SIP]
    assert closed.analysis.tls_opaque > 0
    # a wrong secret opens nothing either (the AEAD tag fails)
    wrong = b"\n".join(line[:-2] + (b"00" if not line.endswith(b"00") else b"11")
                       for line in cap.tls_keylog.splitlines())
    bad = build_ladder(dataclasses.replace(cap, tls_keylog=wrong), decryptor=tls13.decrypt)
    assert not [e for e in bad.analysis.events if e.kind is Kind.SIP]
