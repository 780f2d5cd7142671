"""Run the built-in demo: a live test source (moving picture, tone, capture-time stamps) is
encoded and sent — bonded over three emulated networks (LTE trace, LEO dish with outages,
flaky Wi-Fi) as RTP over QUIC by default, or straight over local UDP with ``--direct`` — to
the probe, which decodes it and measures frames and glass-to-glass latency. Exits 0 when
≥ 99 % of frames arrived within the budget and every key frame arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile

from strata_roq.commands.demo_bonded import last_line
from strata_roq.commands.testsrc import source_options, stream
from strata_roq.errors import UsageError
from strata_roq.units import parse_seconds
from strata_roq.urls import parse_endpoint

MIN_FRAME_RATIO = 0.99


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", default="30", help="how long the source runs (default 30 s)")
    p.add_argument("--direct", action="store_true",
                   help="no bonding: testsrc -> UDP -> probe (checks the media chain alone)")
    p.add_argument("--scheduler", default="storm", help="bonding scheduler (default storm)")
    p.add_argument("--cc", default="delivery",
                   help="what paces each path (send --cc): delivery (default), bbr-rt, "
                   "bbr-like, gradient, vegas")
    p.add_argument("--latency", type=int, default=500,
                   help="end-to-end budget in ms (default 500)")
    p.add_argument("--size", default="1280x720", help="picture size (default 1280x720)")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--bitrate", default="4M")
    p.add_argument("--gop", type=int, default=60)
    p.add_argument("--bframes", type=int, default=0)
    p.add_argument("--codec", choices=("h264", "hevc", "av1"), default="h264")
    p.add_argument("--audio", choices=("aac", "opus", "none"), default="aac")
    p.add_argument("--json", action="store_true", help="print the probe's full report as JSON")


def run(args: argparse.Namespace) -> int:
    duration = parse_seconds(args.duration, "--duration")
    if duration <= 0:
        raise UsageError("--duration must be greater than 0")
    if args.latency <= 0:
        raise UsageError("--latency must be greater than 0 ms")
    from strata_roq.sched import make_scheduler

    make_scheduler(args.scheduler)
    from strata_roq.cc import check_bonded_cc

    check_bonded_cc(args.cc)
    args.stream_id = 1
    options = source_options(args)
    import av.logging

    av.logging.set_level(av.logging.ERROR)
    if args.direct:
        return asyncio.run(_demo(duration, options, args.json))
    return asyncio.run(_bonded(duration, options, args))


async def _bonded(duration: float, options: dict, args) -> int:
    from strata_roq.commands.demo_bonded import bonded_demo
    from strata_roq.io.lifetime import stop_on_signals

    with stop_on_signals() as stop:
        sent, report, extras = await bonded_demo(duration, options, args.latency,
                                                 args.scheduler, stop, args.json, args.cc)
    if args.json:
        print(json.dumps({"sent": sent, "received": report, **extras}, indent=2))
    on_time = report.get("within_ms", {}).get(str(args.latency), 0)
    for p in extras["send"].get("paths", []):
        link = extras["paths"].get(p["name"], {})
        print(f"demo: path {p['name']:<5} sent {p['sent']:6d} packets ({p['sole_copies']} "
              f"alone), lost {p['lost']}, died {p['deaths']}x, link dropped "
              f"{link.get('lost', 0) + link.get('down_drops', 0) + link.get('queue_drops', 0)}")
    if sent["bytes"]:
        print(f"demo: bytes on the wire / media bytes = {extras['wire_bytes'] / sent['bytes']:.2f}")
    return _verdict(sent, report, on_time, args.latency)


async def _demo(duration: float, options: dict, as_json: bool) -> int:
    stats_path = os.path.join(tempfile.mkdtemp(prefix="strata-demo-"), "probe.jsonl")
    probe = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "strata_roq", "probe", "-i", "udp://@127.0.0.1:0", "--json",
        "--duration", str(duration + 5), "--idle", "2", "--stats-json", stats_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = await asyncio.wait_for(probe.stderr.readline(), 30)
    text = line.decode().strip()
    if "listening on" not in text:
        probe.kill()
        print(f"demo: the probe did not start: {text}", file=sys.stderr)
        return 1
    port = int(text.rsplit(":", 1)[1])
    drain = asyncio.ensure_future(probe.stderr.read())
    print(f"demo: test source {options['width']}x{options['height']}@{options['fps']} "
          f"{options['codec']} {options['bitrate'] / 1e6:g} Mbit/s -> udp://127.0.0.1:{port} "
          f"-> probe, {duration:g}s", file=sys.stderr, flush=True)

    def progress(sent: dict) -> None:
        recv = last_line(stats_path)
        got = recv["video"]["frames"] if recv else 0
        lat = recv["latency_ms"] if recv else {"p50": 0, "p99": 0}
        print(f"demo: {sent['elapsed_s']:4.0f}s  sent {sent['frames']} frames  "
              f"received {got}  latency p50 {lat['p50']} ms p99 {lat['p99']} ms",
              file=sys.stderr, flush=True)

    endpoint = parse_endpoint(f"udp://127.0.0.1:{port}")
    sent = await stream([endpoint], options, duration, progress=progress)
    out = await probe.stdout.read()
    await probe.wait()
    await drain
    report = json.loads(out.decode() or "{}")
    if as_json:
        print(json.dumps({"sent": sent, "received": report}, indent=2))
    return _verdict(sent, report)


def _verdict(sent: dict, report: dict, on_time: int | None = None,
             budget_ms: int | None = None) -> int:
    video = report.get("video", {})
    lat = report.get("latency_ms", {})
    frames = video.get("frames", 0)
    ratio = frames / sent["frames"] if sent["frames"] else 0.0
    if on_time is not None:      # bonded: what counts is arriving within the budget
        ratio = on_time / sent["frames"] if sent["frames"] else 0.0
        print(f"demo: {on_time} of {sent['frames']} frames within {budget_ms} ms ({ratio:.1%})")
    missing_keys = sorted(set(sent["key_frame_indices"]) - set(video.get("key_frame_indices", [])))
    print(f"demo: sent {sent['frames']} frames ({len(sent['key_frame_indices'])} key), received "
          f"{frames} ({ratio:.1%}), decoded {video.get('decoded', 0)}, missing key frames "
          f"{missing_keys or 'none'}")
    print(f"demo: latency ms p50 {lat.get('p50')} p95 {lat.get('p95')} p99 {lat.get('p99')} "
          f"max {lat.get('max')}; freezes {report.get('freezes', {}).get('count')}")
    ok = ratio >= MIN_FRAME_RATIO and not missing_keys
    print("demo: PASS" if ok else "demo: FAIL")
    return 0 if ok else 1
