"""Take a live feed in (RIST or UDP MPEG-TS) and serve it to browsers: a player page over
HTTPS and the frames over WebTransport (one stream per frame, late frames reset, a joining
viewer starts at the current key frame). Open https://HOST:PORT/ in Chromium.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import tempfile
import time

from strata_roq.errors import UsageError
from strata_roq.units import parse_seconds
from strata_roq.urls import parse_endpoints, parse_host_port


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", required=True,
                   help="rist://@:PORT[?buffer=MS&profile=..&secret=..][,rist://@:PORT2] or "
                   "udp://@:PORT (MPEG-TS)")
    p.add_argument("--web", required=True, metavar="HOST:PORT",
                   help="where browsers connect: HTTPS (TCP) and WebTransport (UDP), same port")
    p.add_argument("--stream", default="main", help="stream name: /watch/NAME (default main)")
    p.add_argument("--token", help="viewers must present ?token=TOKEN")
    p.add_argument("--token-secret", help="accept signed expiring tokens (strata-roq token)")
    p.add_argument("--cert", help="certificate (PEM); default: self-signed, renewed")
    p.add_argument("--key", help="private key (PEM) for --cert")
    p.add_argument("--cert-lifetime", default="10d",
                   help="self-signed certificate lifetime, < 14 days (default 10d)")
    p.add_argument("--renew-before", default="2d",
                   help="renew a self-signed certificate this long before it expires (default 2d)")
    p.add_argument("--mtu", type=int, default=None, metavar="BYTES",
                   help="largest UDP payload sent to viewers (default 1350; 1200, QUIC's "
                        "minimum, for paths with tunnels of unknown overhead)")
    p.add_argument("--latency", type=float, default=500.0,
                   help="ms a frame may take to reach a viewer before its stream is reset")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds")
    p.add_argument("--stats-json", metavar="FILE", help="append a JSON stats line periodically")
    p.add_argument("--stats-interval", type=float, default=1000.0, metavar="MS")
    p.add_argument("-q", "--quiet", action="store_true")


def _duration(text: str, what: str) -> datetime.timedelta:
    text = text.strip()
    scale = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    try:
        if text and text[-1] in scale:
            return datetime.timedelta(seconds=float(text[:-1]) * scale[text[-1]])
        return datetime.timedelta(seconds=parse_seconds(text, what))
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a duration (e.g. 10d, 12h, 90s)") from None


def _host_port(text: str) -> tuple[str, int]:
    return parse_host_port(text, "--web")


def run(args: argparse.Namespace) -> int:
    sources = parse_endpoints(args.input, ("rist", "udp"))
    if any(not s.listen for s in sources if s.scheme == "udp"):
        raise UsageError("a udp:// input is received: write udp://@:PORT")
    if len({s.scheme for s in sources}) > 1 or (sources[0].scheme == "udp" and len(sources) > 1):
        raise UsageError("give one udp:// input, or one or more rist:// inputs")
    host, port = _host_port(args.web)
    lifetime = _duration(args.cert_lifetime, "--cert-lifetime")
    renew = _duration(args.renew_before, "--renew-before")
    if lifetime >= datetime.timedelta(days=14):
        raise UsageError("--cert-lifetime must be under 14 days (browsers refuse longer "
                         "self-signed certificates by hash)")
    if renew >= lifetime:
        raise UsageError("--renew-before must be shorter than --cert-lifetime")
    if args.latency <= 0:
        raise UsageError("--latency must be greater than 0 ms")
    if args.mtu is not None and not 1200 <= args.mtu <= 65527:
        raise UsageError(f"--mtu {args.mtu} is outside 1200..65527 (QUIC needs at least 1200)")
    if bool(args.cert) != bool(args.key):
        raise UsageError("give both --cert and --key, or neither for a self-signed certificate")
    return asyncio.run(_gateway(args, sources, host, port, lifetime, renew))


def make_web_server(host: str, port: int, *, latency_ms: float, stream: str = "main",
                    token=None, token_secret=None, cert=None, key=None,
                    lifetime=datetime.timedelta(days=10), renew=datetime.timedelta(days=2),
                    extra_stats=None, mtu: int | None = None):
    """A gateway core and its web server; returns (server, on_ts(data, now))."""
    from strata_roq.io.webtransport import WEB_MTU, CertificateKeeper, WebServer
    from strata_roq.wt.gateway import Gateway
    from strata_roq.wt.tokens import ViewerAuth

    gateway = Gateway(latency=latency_ms / 1000.0)
    certs = CertificateKeeper(cert, key, tempfile.mkdtemp(prefix="strata-certs-"),
                              lifetime=lifetime, renew_before=renew,
                              check_interval=min(60.0, max(0.5, renew.total_seconds() / 4)))
    server = WebServer(gateway, host, port, stream=stream, auth=ViewerAuth(token, token_secret),
                       certs=certs, extra_stats=extra_stats, mtu=mtu or WEB_MTU)

    def on_ts(data: bytes, now: float) -> None:
        touched = gateway.feed(data, now)
        if touched:
            server.transmit_all(touched)

    return server, on_ts


async def _gateway(args, sources, host, port, lifetime, renew) -> int:
    from strata_roq.io.lifetime import run_until_stopped
    from strata_roq.rtp.packet import payload_bounds

    ingest: dict = {}
    server, on_ts = make_web_server(host, port, latency_ms=args.latency, stream=args.stream,
                                    token=args.token, token_secret=args.token_secret,
                                    cert=args.cert, key=args.key, lifetime=lifetime,
                                    renew=renew, extra_stats=lambda: {"ingest": ingest},
                                    mtu=args.mtu)
    certs = server.certs

    closers = []
    if sources[0].scheme == "rist":
        from strata_roq.commands._rist import open_rist_input

        def delivered(packets: list[bytes]) -> None:
            now = time.monotonic()
            for rtp in packets:
                start, end = payload_bounds(rtp)
                on_ts(rtp[start:end], now)

        driver, core, bound = await open_rist_input(sources, delivered)
        closers.append(driver.close)
        where = ", ".join(f"rist://@{h}:{p}" for h, p in bound)

        def ingest_stats() -> None:
            ingest.update(core.stats_dict(time.monotonic()))
            ingest.pop("peers", None)
    else:
        from strata_roq.io.udp import UdpSocket

        sock = await UdpSocket.open(bind=sources[0].address, name="input")
        sock.callback = lambda data, _addr, now: on_ts(data, now)
        closers.append(sock.close)
        where = f"udp://@{sock.local_address[0]}:{sock.local_address[1]}"

        def ingest_stats() -> None:
            ingest.update({"datagrams": sock.received})
    try:
        await server.start()
    except OSError as exc:
        for close in closers:
            close()
        print(f"gateway: error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"gateway: {where} -> https://{host}:{port}/ (WebTransport /watch/{args.stream}, "
              f"certificate sha256 {certs.sha256_hex})", file=sys.stderr, flush=True)

    def tick() -> None:
        ingest_stats()
        if args.stats_json:
            with open(args.stats_json, "a", encoding="utf-8") as f:
                f.write(json.dumps(server.stats()) + "\n")

    try:
        await run_until_stopped(args.duration, args.stats_interval / 1000.0, tick)
        ingest_stats()
        stats = server.stats()
    finally:
        server.close()
        for close in closers:
            close()
        await asyncio.sleep(0.05)
    if not args.quiet:
        print("gateway: " + json.dumps(stats), file=sys.stderr)
    return 0
