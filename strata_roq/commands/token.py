"""Mint a signed, expiring viewer token for a gateway started with --token-secret."""

from __future__ import annotations

import argparse
import time

from strata_roq.errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--secret", required=True, help="the gateway's --token-secret")
    p.add_argument("--stream", default="main")
    p.add_argument("--ttl", type=float, default=3600.0, help="seconds it stays valid")


def run(args: argparse.Namespace) -> int:
    from strata_roq.wt.tokens import sign

    if args.ttl <= 0:
        raise UsageError("--ttl must be greater than 0 seconds")
    print(sign(args.secret, args.stream, int(time.time() + args.ttl)))
    return 0
