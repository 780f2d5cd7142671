"""Encode a moving test pattern with a tone, live, and send it as MPEG-TS over UDP or RTP.

Each video frame carries its capture time in an SEI message, so `strata-roq probe` (or any
Strata receiver) can measure glass-to-glass latency per frame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import struct
import sys
import time

from strata_roq.errors import UsageError
from strata_roq.units import parse_bitrate, parse_seconds, parse_size
from strata_roq.urls import Endpoint, parse_endpoints

_RTP_HEADER = struct.Struct(">BBHII")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True,
                   help="where to send: udp://HOST:PORT or rtp://HOST:PORT (comma-separated for several)")
    p.add_argument("--duration", default="10", help="how long to run (e.g. 30, 2m; 0 = forever)")
    p.add_argument("--frames", type=int, default=0, help="stop after this many frames (0 = no limit)")
    p.add_argument("--size", default="1280x720", help="picture size WIDTHxHEIGHT (default 1280x720)")
    p.add_argument("--fps", type=int, default=30, help="frames per second (default 30)")
    p.add_argument("--bitrate", default="4M", help="video bit rate (default 4M)")
    p.add_argument("--gop", type=int, default=60, help="key frame interval in frames (default 60)")
    p.add_argument("--bframes", type=int, default=0, help="B-frames between references (default 0)")
    p.add_argument("--cbr", action="store_true",
                   help="constant bit rate with filler (H.264), like a broadcast encoder")
    p.add_argument("--codec", choices=("h264", "hevc", "av1"), default="h264",
                   help="video codec (default h264); av1: SVT-AV1 low delay, three temporal "
                        "layers, carried in TS as the AOM mapping specifies")
    p.add_argument("--audio", choices=("aac", "opus", "none"), default="aac")
    p.add_argument("--stream-id", type=int, default=1, help="stream id written into the stamps")
    p.add_argument("--rate-from", metavar="URL|rtcp",
                   help="udp://@:PORT to listen on for the encoder rate signal, or rtcp to "
                        "take RTCP TMMBR/PLI coming back on the rtp:// outputs (send --tmmbr) "
                        "(send --rate-to): the video bitrate is re-targeted live, up to --bitrate, "
                        "and a key frame is made when one is requested (a reference was lost)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("--json", action="store_true",
                   help="print the final stats as JSON on stdout, with each frame's encode time "
                        "(capture to last datagram sent, ms): glass-to-glass minus this is the "
                        "transport's share")


def source_options(args: argparse.Namespace) -> dict:
    """TestSource keyword arguments from parsed options (also used by `demo`)."""
    width, height = parse_size(args.size, "--size")
    if not 1 <= args.fps <= 240:
        raise UsageError(f"--fps {args.fps} is outside 1..240")
    if args.gop < 1:
        raise UsageError(f"--gop {args.gop} must be at least 1")
    if not 0 <= args.bframes <= 8:
        raise UsageError(f"--bframes {args.bframes} is outside 0..8")
    if args.bframes and args.codec == "av1":
        raise UsageError("--bframes is for h264/hevc: AV1's low-delay mode has temporal layers "
                         "instead")
    return dict(width=width, height=height, fps=args.fps,
                bitrate=parse_bitrate(args.bitrate, "--bitrate"), gop=args.gop,
                bframes=args.bframes, codec=args.codec,
                adaptive=bool(getattr(args, "rate_from", None)),
                audio=None if args.audio == "none" else args.audio, stream_id=args.stream_id,
                cbr=getattr(args, "cbr", False))


#: ``--rate-from rtcp``: the rate comes as RTCP TMMBR (and key-frame requests as PLI) on
#: the RTP outputs' own sockets.
RTCP_FEEDBACK = object()


def _rtcp_reader(wanted: dict):
    """A socket callback taking TMMBR (rate) and PLI (key frame) from RTCP feedback."""
    from strata_roq.errors import ParseError
    from strata_roq.rtp import rtcp

    def on_rtcp(data: bytes, _addr, _now: float) -> None:
        try:
            packets = rtcp.parse_rtcp_compound(data)
        except ParseError:
            wanted["errors"] += 1       # counted, dropped
            return
        for p in packets:
            if isinstance(p, rtcp.Tmmbr) and not p.notification and p.entries:
                wanted["rate"] = min(rate for _, rate, _ in p.entries)
            elif isinstance(p, rtcp.Pli):
                wanted["key"] = True

    return on_rtcp


class _Output:
    """One destination; wraps datagrams in RTP (PT 33, MP2T) for rtp://."""

    def __init__(self, endpoint: Endpoint, sock) -> None:
        self.endpoint = endpoint
        self.sock = sock
        self.rtp = endpoint.scheme == "rtp"
        self.seq = random.randrange(0x10000)
        self.ssrc = endpoint.get_int("ssrc", random.randrange(1 << 32), minimum=0,
                                     maximum=0xFFFFFFFF) & ~1  # even: odd SSRCs mean retransmission in RIST
        self.pt = endpoint.get_int("pt", 33, minimum=0, maximum=127)

    def send(self, datagram: bytes, capture_s: float) -> None:
        if self.rtp:
            ts = int(capture_s * 90000) & 0xFFFFFFFF
            datagram = _RTP_HEADER.pack(0x80, self.pt, self.seq, ts, self.ssrc) + datagram
            self.seq = (self.seq + 1) & 0xFFFF
        self.sock.sendto(datagram, self.endpoint.address)


async def stream(endpoints: list[Endpoint], options: dict, duration: float, frames: int = 0,
                 progress=None, stop: asyncio.Event | None = None,
                 rate_from: Endpoint | None = None) -> dict:
    """Encode and send in real time until ``duration``/``frames``/``stop``; return totals.

    ``progress(stats)`` is called about once a second.
    """
    from strata_roq.io.udp import UdpSocket
    from strata_roq.media.testsrc import TestSource

    source = TestSource(**options)
    outputs = []
    rate_in = None
    wanted = {"rate": None, "errors": 0, "key": False}
    if rate_from is RTCP_FEEDBACK:
        pass                                  # read on the output sockets, below
    elif rate_from is not None:
        from strata_roq.cc.rate_message import parse_rate_message
        from strata_roq.errors import ParseError

        if not rate_from.listen:
            raise UsageError(f"{rate_from.url}: --rate-from listens, write udp://@:PORT")
        rate_in = await UdpSocket.open(bind=rate_from.address, name="rate signal")

        def on_rate(data: bytes, _addr, _now: float) -> None:
            try:
                wanted["rate"], key = parse_rate_message(data)
                wanted["key"] |= key
            except ParseError:
                wanted["errors"] += 1   # counted, dropped

        rate_in.callback = on_rate
    for ep in endpoints:
        if ep.listen:
            raise UsageError(f"{ep.url}: testsrc sends, so the URL needs a host, not '@'")
        sock = await UdpSocket.open(peer=ep.address, device=ep.get_str("dev"))
        outputs.append(_Output(ep, sock))
        if rate_from is RTCP_FEEDBACK:
            sock.callback = _rtcp_reader(wanted)
    fps = options.get("fps", 30)
    stats = {"frames": 0, "datagrams": 0, "bytes": 0, "elapsed_s": 0.0, "late_frames": 0,
             "bitrate_targets": []}
    encode_ms: list[float] = []     # per frame index: capture -> its datagrams sent
    start = time.monotonic()
    next_report = start + 1.0
    try:
        while not (stop and stop.is_set()):
            index = source.frame_index
            if frames and index >= frames or duration and index >= duration * fps:
                break
            target = start + index / fps
            delay = target - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0 / fps:
                stats["late_frames"] += 1
            if wanted["rate"] is not None:
                before = source.bitrate
                if source.set_bitrate(wanted["rate"]) != before:
                    stats["bitrate_targets"].append([index, source.bitrate])
                wanted["rate"] = None
            if wanted["key"]:
                source.request_key_frame()
                wanted["key"] = False
            capture_ns = time.time_ns()
            datagrams = source.encode_frame(capture_ns)
            _send_all(outputs, datagrams, capture_ns / 1e9, stats)
            encode_ms.append(round((time.time_ns() - capture_ns) / 1e6, 2))
            stats["frames"] = source.frame_index
            now = time.monotonic()
            stats["elapsed_s"] = round(now - start, 3)
            if progress and now >= next_report:
                next_report += 1.0
                progress(dict(stats))
        _send_all(outputs, source.close(), time.time(), stats)
    finally:
        stats["rate_errors"] = wanted["errors"]
        stats["keys_forced"] = source.keys_forced
        if rate_in is not None:
            rate_in.close()
        for out in outputs:
            stats["send_deferred"] = stats.get("send_deferred", 0) + out.sock.send_deferred
            out.sock.close()
    stats["elapsed_s"] = round(time.monotonic() - start, 3)
    stats["frames"] = source.frame_index
    stats["key_frame_indices"] = list(source.key_indices)
    stats["encode_ms"] = encode_ms
    ordered = sorted(encode_ms)
    stats["encode_ms_p99"] = ordered[int(0.99 * (len(ordered) - 1))] if ordered else None
    stats["bitrate_bps"] = int(stats["bytes"] * 8 / stats["elapsed_s"]) if stats["elapsed_s"] else 0
    return stats


def _send_all(outputs, datagrams, capture_s: float, stats: dict) -> None:
    for d in datagrams:
        for out in outputs:
            out.send(d, capture_s)
        stats["datagrams"] += 1
        stats["bytes"] += len(d)


def run(args: argparse.Namespace) -> int:
    endpoints = parse_endpoints(args.output, ("udp", "rtp"))
    options = source_options(args)
    duration = parse_seconds(args.duration, "--duration")
    import av.logging

    av.logging.set_level(av.logging.ERROR)

    def progress(s: dict) -> None:
        rate = s["bytes"] * 8 / max(s["elapsed_s"], 1e-9) / 1e6
        print(f"testsrc: {s['frames']} frames, {s['datagrams']} datagrams, {rate:.2f} Mbit/s, "
              f"{s['elapsed_s']:.0f}s", file=sys.stderr, flush=True)

    if args.rate_from == "rtcp":
        if any(ep.scheme != "rtp" for ep in endpoints):
            raise UsageError("--rate-from rtcp reads RTCP feedback on RTP outputs: "
                             "every -o must be rtp://")
        rate_from = RTCP_FEEDBACK
    else:
        rate_from = parse_endpoints(args.rate_from, ("udp",))[0] if args.rate_from else None
    if rate_from is not None and args.codec != "h264":
        raise UsageError("--rate-from re-targets the H.264 encoder: use --codec h264")
    stats = asyncio.run(stream(endpoints, options, duration, args.frames,
                               None if args.quiet else progress, rate_from=rate_from))
    print(f"testsrc: done: {stats['frames']} frames, {stats['datagrams']} datagrams, "
          f"{stats['bytes']} bytes, {stats['bitrate_bps'] / 1e6:.2f} Mbit/s, {stats['late_frames']} late",
          file=sys.stderr)
    if args.json:
        print(json.dumps(stats))
    return 0
