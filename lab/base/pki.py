"""The lab's own PKI: a CA and one certificate per node naming the node and its addresses.

Made at ``uclab up`` (or by a test) in ``<run>/pki/``; keys never leave that folder. The TLS
contexts (:mod:`lab.aio.tls`) append their session secrets to ``pki/keylog.txt`` (NSS key log
format) so that Wireshark/tshark decrypt the captures.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class NodeCert:
    name: str
    cert: Path
    key: Path


@dataclass(frozen=True)
class LabPki:
    """Paths of a lab's PKI folder."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def keylog(self) -> Path:
        return self.folder / "keylog.txt"

    def node(self, name: str) -> NodeCert:
        return NodeCert(name, self.folder / f"{name}.pem", self.folder / f"{name}.key")


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def create_ca(folder: Path, lab: str = "uclab") -> LabPki:
    """A fresh CA in ``folder`` (created), and an empty key log."""
    folder.mkdir(parents=True, exist_ok=True)
    pki = LabPki(folder)
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{lab} lab CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    pki.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, pki.ca_key)
    pki.keylog.touch()
    return pki


def issue(pki: LabPki, name: str, addresses: list[str], dns: list[str] | None = None) -> NodeCert:
    """A certificate for node ``name`` with its name and addresses as subjectAltName."""
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError("the lab CA key is not an EC key")
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    key = _key()
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in [name, *(dns or [])]]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    node = pki.node(name)
    node.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, node.key)
    return node
