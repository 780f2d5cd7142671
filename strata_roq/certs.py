"""TLS certificates for QUIC endpoints: load the user's, or make a short-lived self-signed one.

Browsers accept a self-signed certificate over WebTransport only through
``serverCertificateHashes``, and only if it is ECDSA and valid for less than 14 days — so
generated certificates are ECDSA P-256 valid for 10 days.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import logging
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from strata_roq.errors import UsageError

log = logging.getLogger(__name__)
VALID_DAYS = 10


def generate_self_signed(hostnames: list[str] | None = None, days: int = VALID_DAYS,
                         now: datetime.datetime | None = None,
                         lifetime: datetime.timedelta | None = None) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for ``hostnames`` (default localhost + 127.0.0.1),
    valid ``days`` (or ``lifetime``)."""
    hostnames = hostnames or ["localhost", "127.0.0.1", "::1"]
    key = ec.generate_private_key(ec.SECP256R1())
    now = now or datetime.datetime.now(datetime.timezone.utc)
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + (lifetime or datetime.timedelta(days=days)))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def certificate_sha256(cert_pem: bytes) -> bytes:
    """SHA-256 of the DER certificate (what ``serverCertificateHashes`` wants)."""
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).digest()


def load_or_generate(cert: str | None, key: str | None, directory: Path | None = None) -> tuple[str, str]:
    """Paths of a certificate and key: the given ones, or a fresh self-signed pair (warned)."""
    if cert or key:
        if not (cert and key):
            raise UsageError("give both cert= and key=, or neither for a self-signed certificate")
        for what, path in (("certificate", cert), ("key", key)):
            if not Path(path).is_file():
                raise UsageError(f"{what} file {path!r} does not exist")
        return cert, key
    import tempfile

    directory = directory or Path(tempfile.mkdtemp(prefix="strata-certs-"))
    cert_pem, key_pem = generate_self_signed()
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(key_pem)
    key_path.chmod(0o600)
    log.warning("no certificate given: using a self-signed one (%s, sha256 %s); clients need "
                "--insecure", cert_path, certificate_sha256(cert_pem).hex())
    return str(cert_path), str(key_path)
