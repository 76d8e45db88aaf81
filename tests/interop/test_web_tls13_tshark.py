"""The live view's in-process TLS 1.3 decryption against tshark (the independent dissector):
the same ladder from the same capture and key log."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lab.capture.pcapfile import read_capture
from lab.ladder import build_ladder
from lab.web import tls13

DATA = Path(__file__).resolve().parent.parent / "data" / "ladder"


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is installed by ./setup")
def test_in_process_decryption_gives_tsharks_ladder() -> None:
    cap = read_capture(DATA / "sip-tls-from-port-27017.pcapng")
    ours, theirs = build_ladder(cap, decryptor=tls13.decrypt), build_ladder(cap)
    assert theirs.analysis.tls_decrypted > 0
    assert ours.analysis.tls_decrypted == theirs.analysis.tls_decrypted
    assert [(r.ts_ns, r.label, r.src, r.dst, r.step) for r in ours.rows] == [
        (r.ts_ns, r.label, r.src, r.dst, r.step) for r in theirs.rows]
    assert [e.sip.text for e in ours.analysis.events if e.sip] == [
        e.sip.text for e in theirs.analysis.events if e.sip]
