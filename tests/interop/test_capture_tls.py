"""TLS secrets travel inside the merged capture: SIP over TLS 1.2 and 1.3 (Python's ssl writing
an NSS key log, as the lab's stacks do) is captured in namespaces, merged with the key log as a
Decryption Secrets Block, and ``tshark -r merged.pcapng`` decrypts it with no option at all;
the ladder decrypts it too (through tshark), and says so when the key log is missing."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.base import pki as labpki
from lab.capture import LabCapture, read_capture
from lab.kernel.setns import run_in_netns
from lab.ladder import analyse_capture
from lab.ladder.events import Kind
from tests.conftest import require_tool
from tests.nethelp import NetBench, Node

OPTIONS = (b"OPTIONS sip:cms@10.48.54.230 SIP/2.0\r\n"
           b"Via: SIP/2.0/TLS 10.48.54.227;branch=z9hG4bK7\r\n"
           b"From: <sip:expc@vc.lab>;tag=9\r\nTo: <sip:cms@vc.lab>\r\nCall-ID: tls-test@x\r\n"
           b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
OK = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 10.48.54.227;branch=z9hG4bK7\r\n"
      b"From: <sip:expc@vc.lab>;tag=9\r\nTo: <sip:cms@vc.lab>;tag=3\r\nCall-ID: tls-test@x\r\n"
      b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")


def _net(bench: NetBench) -> tuple[Node, Node]:
    client, server = bench.node("expc"), bench.node("cms")
    bench.segment("in", [(client, "eth0", "10.48.54.227/24"), (server, "eth0", "10.48.54.230/24")])
    return client, server


def _exchange(client: Node, server: Node, folder: Path, version: ssl.TLSVersion) -> Path:
    """One OPTIONS / 200 OK over TLS between two namespaces; returns the key log."""
    p = labpki.create_ca(folder / "pki")
    server_cert = labpki.issue(p, "cms", ["10.48.54.230"])
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(server_cert.cert, server_cert.key)
    sctx.maximum_version = version
    sctx.keylog_filename = str(p.keylog)

    def listen() -> socket.socket:
        s = socket.create_server(("10.48.54.230", 5061))
        s.settimeout(10)
        return s

    lsock = run_in_netns(server.ns, listen)

    def serve() -> None:
        conn, _ = lsock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)
            tls.sendall(OK)
            tls.recv(1)

    thread = threading.Thread(target=serve)
    thread.start()

    def call() -> bytes:
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.check_hostname, cctx.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("10.48.54.230", 5061), timeout=10) as raw, \
                cctx.wrap_socket(raw) as tls:
            tls.sendall(OPTIONS)
            return tls.recv(65536)

    try:
        assert run_in_netns(client.ns, call, timeout=20) == OK
    finally:
        thread.join(10)
        lsock.close()
    return p.keylog


def _tshark(*args: str) -> list[list[str]]:
    out = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3],
                         ids=["tls1.2", "tls1.3"])
def test_merged_capture_opens_decrypted(netbench: Callable[[], NetBench], tmp_path: Path,
                                        version: ssl.TLSVersion) -> None:
    require_tool("tshark")
    client, server = _net(netbench())
    cap = LabCapture(tmp_path / "parts", {"expc": client.ns, "cms": server.ns})
    cap.start()
    try:
        keylog = _exchange(client, server, tmp_path, version)
    finally:
        cap.stop()
    merged = cap.merge(tmp_path / "tls.pcapng", keylog=keylog).path

    # tshark, with no key log option, decrypts: the secrets are in the file
    rows = _tshark("-r", str(merged), "-Y", "sip", "-T", "fields", "-e", "frame.interface_name",
                   "-e", "sip.CSeq.method", "-e", "sip.Status-Code")
    assert ["expc:eth0", "OPTIONS", ""] in rows
    assert any(r[1:] == ["OPTIONS", "200"] for r in rows)
    assert _tshark("-r", str(merged), "-Y", "_ws.malformed", "-T", "fields", "-e",
                   "frame.number") == []

    analysis = analyse_capture(read_capture(merged))
    sip = [e for e in analysis.events if e.kind is Kind.SIP]
    assert [(e.transport, e.label) for e in sip] == [("TLS", "OPTIONS"), ("TLS", "200 OK")]
    assert analysis.tls_decrypted == 1 and analysis.tls_opaque == 0  # one connection

    blind_cap = read_capture(merged)
    blind_cap.tls_keylog = b""
    blind = analyse_capture(blind_cap)
    assert not [e for e in blind.events if e.kind is Kind.SIP] and blind.tls_opaque == 1
    assert any("no key log" in w for w in blind.warnings)
    [note] = blind.tls_notes
    assert note.startswith("TLS ") and note.endswith(
        " not decrypted: no TLS key log (give --keylog FILE)")
    # secrets of another session (each line's client random replaced): said so
    wrong = analyse_capture(blind_cap, b"\n".join(
        b" ".join([w[0], b"00" * 32, *w[2:]]) for w in
        (line.split(b" ") for line in keylog.read_bytes().splitlines() if b" " in line
         and not line.startswith(b"#"))))
    assert wrong.tls_opaque == 1  # one connection
    assert wrong.tls_notes == [note.replace("no TLS key log (give --keylog FILE)",
                                            "the key log has no secrets for its ClientHello")]
    # given separately (uclab ladder --keylog), the key log works as well
    again = analyse_capture(blind_cap, keylog.read_bytes())
    assert [e.label for e in again.events if e.kind is Kind.SIP] == ["OPTIONS", "200 OK"]
