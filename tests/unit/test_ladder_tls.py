"""TLS plaintext from tshark (lab.ladder.decrypt) on a real capture whose Expressway-C -> CMS
connection left from source port 27017, MongoDB's port in tshark's TLS port table."""

from __future__ import annotations

import shutil
from pathlib import Path

from lab.capture.pcapfile import read_capture
from lab.ladder.analysis import analyse_capture
from lab.ladder.decrypt import tls_port_table
from lab.ladder.events import Kind
from tests.conftest import require_tool

CAPTURE = (Path(__file__).resolve().parent.parent / "data" / "ladder" /
           "sip-tls-from-port-27017.pcapng")


def test_a_client_port_tshark_knows_does_not_hide_the_plaintext() -> None:
    require_tool("tshark")
    tshark = shutil.which("tshark")
    assert tshark is not None
    assert tls_port_table(tshark)[27017] == "mongo"  # what made the connection opaque
    analysis = analyse_capture(read_capture(CAPTURE))
    assert (analysis.tls_decrypted, analysis.tls_opaque) == (5, 0), analysis.tls_notes
    from_27017 = [e for e in analysis.events if e.kind is Kind.SIP and e.sip is not None
                  and e.src.port == 27017]
    assert [e.sip.method for e in from_27017 if e.sip is not None][:1] == ["INVITE"]
