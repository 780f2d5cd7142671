"""Make a self-signed ECDSA P-256 certificate that browsers accept over WebTransport by its
hash (valid < 14 days), and print its SHA-256 for ``serverCertificateHashes``."""

from __future__ import annotations

import argparse
import os

from strata_roq.errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="certs", help="directory for cert.pem and key.pem")
    p.add_argument("--days", type=int, default=10, help="validity in days, 1..13 (default 10)")
    p.add_argument("--host", action="append", default=[],
                   help="a name or address the certificate is for (repeatable; default "
                   "localhost, 127.0.0.1, ::1)")


def run(args: argparse.Namespace) -> int:
    from strata_roq.certs import certificate_sha256, generate_self_signed

    if not 1 <= args.days <= 13:
        raise UsageError("--days must be 1..13 (browsers refuse longer self-signed "
                         "certificates by hash)")
    os.makedirs(args.out, exist_ok=True)
    cert, key = generate_self_signed(args.host or None, days=args.days)
    cert_path, key_path = os.path.join(args.out, "cert.pem"), os.path.join(args.out, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert)
    with open(key_path, "wb") as f:
        os.chmod(key_path, 0o600)
        f.write(key)
    print(f"{cert_path} {key_path} sha256 {certificate_sha256(cert).hex()}")
    return 0
