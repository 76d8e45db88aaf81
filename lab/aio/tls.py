"""TLS contexts of the lab's SIP endpoints, writing the NSS key log (``SSLKEYLOGFILE`` format)
to the lab's ``pki/keylog.txt`` so that tshark decrypts every capture
(``tshark -o tls.keylog_file:<run>/pki/keylog.txt``)."""

from __future__ import annotations

import ssl

from lab.base.pki import LabPki, NodeCert


def server_context(pki: LabPki, node: NodeCert) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(node.cert, node.key)
    ctx.load_verify_locations(pki.ca_cert)
    ctx.keylog_filename = str(pki.keylog)
    return ctx


def client_context(pki: LabPki, node: NodeCert | None = None) -> ssl.SSLContext:
    """Verifies the peer against the lab CA by address (SIP URIs name IP addresses here)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(pki.ca_cert)
    if node is not None:
        ctx.load_cert_chain(node.cert, node.key)
    ctx.keylog_filename = str(pki.keylog)
    return ctx
