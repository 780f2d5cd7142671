"""Receive a live MPEG-TS stream (UDP or RTP) and report what arrived: frames per type,
continuity errors, decodable frames, per-frame latency from the embedded capture stamps
(p50/p95/p99/max), missing frames and freezes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from strata_roq.units import parse_seconds
from strata_roq.urls import Endpoint, parse_endpoint
from strata_roq.errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", required=True,
                   help="where to listen: udp://@:PORT or rtp://@:PORT")
    p.add_argument("--duration", default="10",
                   help="stop after this long from the first datagram (0 = no limit)")
    p.add_argument("--idle", default="3",
                   help="stop when nothing arrives for this long after the stream started")
    p.add_argument("--wait", default="30", help="give up if nothing arrives within this long")
    p.add_argument("--frames", type=int, default=0, help="stop after this many video frames")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--no-decode", action="store_true", help="do not decode (faster, less exact)")
    p.add_argument("--stats-json", metavar="FILE",
                   help="append a JSON report line to FILE every --stats-interval")
    p.add_argument("--stats-interval", default="1", help="seconds between stats lines (default 1)")
    p.add_argument("--per-frame", action="store_true",
                   help="add latency_by_frame ([[frame index, ms], ...]) to the JSON report")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


async def receive(endpoint: Endpoint, *, duration: float, idle: float, wait: float,
                  frames: int = 0, decode: bool = True, stats_json: str | None = None,
                  stats_interval: float = 1.0, progress=None, ready=None,
                  stop: asyncio.Event | None = None, per_frame: bool = False) -> dict:
    """Listen on ``endpoint`` and return the probe's report when a stop condition holds."""
    from strata_roq.clock import WallClock
    from strata_roq.io.udp import UdpSocket
    from strata_roq.media.probe import MediaProbe

    if not endpoint.listen:
        raise UsageError(f"{endpoint.url}: the probe listens, write {endpoint.scheme}://@:PORT")
    probe = MediaProbe("rtp" if endpoint.scheme == "rtp" else "udp", decode=decode)
    sock = await UdpSocket.open(bind=endpoint.address, clock=WallClock(),
                                device=endpoint.get_str("dev"))
    if ready:
        ready(sock.local_address)
    stats_file = open(stats_json, "a", encoding="utf-8") if stats_json else None
    opened = time.monotonic()
    started: float | None = None
    next_stats = opened + stats_interval
    try:
        while not (stop and stop.is_set()):
            now = time.monotonic()
            if started is None and wait and now - opened > wait:
                break
            if started is not None and duration and now - started >= duration:
                break
            if frames and probe.video_frames >= frames:
                break
            item = await sock.recv(timeout=0.2)
            while item is not None:
                data, _addr, arrival = item
                if started is None:
                    started = time.monotonic()
                probe.feed(data, arrival)
                item = sock.get_nowait()
            if started is not None and probe.last_time is not None and idle \
                    and WallClock().now() - probe.last_time > idle:
                break
            if time.monotonic() >= next_stats:
                next_stats += stats_interval
                snapshot = probe.report()
                if stats_file:
                    stats_file.write(json.dumps(snapshot) + "\n")
                    stats_file.flush()
                if progress:
                    progress(snapshot)
    finally:
        sock.close()
        probe.finish()
        report = probe.report(per_frame)
        if stats_file:
            stats_file.write(json.dumps(report) + "\n")
            stats_file.close()
    if started is None:
        report["error"] = f"nothing arrived on {endpoint.url} within {wait:g}s"
    return report


def summary(report: dict) -> str:
    """A few human-readable lines from a probe report."""
    v, lat = report["video"], report["latency_ms"]
    lines = [
        f"video {v['codec']}: {v['frames']} frames {v['by_kind']}, {v['key_frames']} key, "
        f"{v['decoded']} decoded, {v['missing_frames']} missing, {v['damaged']} damaged",
        f"audio {report['audio']['codec']}: {report['audio']['frames']} frames",
        f"latency ms: p50 {lat['p50']} p95 {lat['p95']} p99 {lat['p99']} max {lat['max']} "
        f"(n={lat['count']})",
        f"transport: {report['datagrams']} datagrams, {report['bitrate_bps'] / 1e6:.2f} Mbit/s, "
        f"cc errors {report['ts']['cc_errors']}, freezes {report['freezes']['count']}",
    ]
    if "error" in report:
        lines.insert(0, "error: " + report["error"])
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    endpoint = parse_endpoint(args.input, ("udp", "rtp"))
    duration = parse_seconds(args.duration, "--duration")
    idle = parse_seconds(args.idle, "--idle")
    wait = parse_seconds(args.wait, "--wait")
    interval = parse_seconds(args.stats_interval, "--stats-interval")
    if interval <= 0:
        raise UsageError("--stats-interval must be greater than 0")
    import av.logging

    av.logging.set_level(av.logging.FATAL)  # decoder complaints are counted, not printed

    def progress(r: dict) -> None:
        lat = r["latency_ms"]
        print(f"probe: {r['video']['frames']} video frames, {r['video']['missing_frames']} missing, "
              f"latency p50 {lat['p50']} ms p99 {lat['p99']} ms, {r['bitrate_bps'] / 1e6:.2f} Mbit/s",
              file=sys.stderr, flush=True)

    def ready(address) -> None:
        if not args.quiet:
            print(f"probe: listening on {endpoint.scheme}://@{address[0]}:{address[1]}",
                  file=sys.stderr, flush=True)

    report = asyncio.run(receive(endpoint, duration=duration, idle=idle, wait=wait,
                                 frames=args.frames, decode=not args.no_decode,
                                 stats_json=args.stats_json, stats_interval=interval,
                                 progress=None if args.quiet else progress, ready=ready,
                                 per_frame=args.per_frame))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(summary(report))
    return 1 if "error" in report else 0
