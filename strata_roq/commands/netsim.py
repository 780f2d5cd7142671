"""Relay UDP between a listen address and a target through emulated links: delay, jitter,
random or Gilbert-Elliott burst loss, reordering, duplication, a rate limit or a mahimahi /
throughput-CSV capacity trace. This kernel has no netem; this is how loss tests are built.

Delay and loss apply to both directions unless --return-* says otherwise; rate and trace
apply to the forward direction (listen -> target).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time

from strata_roq.errors import UsageError
from strata_roq.units import parse_bitrate, parse_percent, parse_seconds
from strata_roq.urls import parse_host_port


_host_port = parse_host_port


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", required=True, metavar="HOST:PORT", help="where senders send to")
    p.add_argument("--to", required=True, metavar="HOST:PORT", help="where the relay forwards")
    p.add_argument("--delay", default="0ms", help="one-way delay per direction (e.g. 20ms)")
    p.add_argument("--jitter", default="0ms", help="delay variation (std dev, FIFO kept)")
    p.add_argument("--loss", default="0%", help="packet loss per direction (e.g. 2%%)")
    p.add_argument("--burst", type=float, default=None,
                   help="mean loss burst in packets: makes --loss Gilbert-Elliott")
    p.add_argument("--return-loss", default=None, help="loss on target->listen (default: --loss)")
    p.add_argument("--return-delay", default=None, help="delay on target->listen (default: --delay)")
    p.add_argument("--rate", default=None, help="forward bottleneck rate (e.g. 3M)")
    p.add_argument("--queue", default="200ms", help="bottleneck queue limit as waiting time")
    p.add_argument("--trace", default=None, metavar="FILE",
                   help="forward capacity trace (mahimahi file or throughput CSV)")
    p.add_argument("--delay-schedule", default=None, metavar="FILE",
                   help="one-way delay over time, lines 'SECONDS DELAY_MS' (e.g. from a ping "
                   "trace); replaces --delay in both directions")
    p.add_argument("--reorder", default="0%", help="fraction held back 10 ms (reordering)")
    p.add_argument("--duplicate", default="0%", help="fraction delivered twice")
    p.add_argument("--outage", action="append", default=[], metavar="START:LENGTH",
                   help="path down (both directions) from START for LENGTH seconds after the "
                   "relay starts (or --epoch), e.g. 3:2.5 (repeatable)")
    p.add_argument("--loss-at", action="append", default=[], metavar="TIME:LOSS",
                   help="from TIME seconds on, random loss LOSS both ways, e.g. 5:20%% (repeatable)")
    p.add_argument("--epoch", type=float, default=None, metavar="UNIX_SECONDS",
                   help="time zero of --outage, --loss-at, --trace and --delay-schedule as a "
                   "Unix time (default: the relay's start for events, its first packet for "
                   "traces), so relays started one after another keep one schedule")
    p.add_argument("--seed", type=int, default=None, help="random seed (repeatable runs)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds")
    p.add_argument("--stats-json", metavar="FILE", help="append link stats each second")
    p.add_argument("-q", "--quiet", action="store_true")


def build_links(args: argparse.Namespace):
    from strata_roq.netsim.link import Link
    from strata_roq.netsim.loss import make_loss
    from strata_roq.netsim.trace import read_trace

    rng = random.Random(args.seed)
    delay = parse_seconds(args.delay, "--delay", "ms")
    back_delay = parse_seconds(args.return_delay, "--return-delay", "ms") \
        if args.return_delay is not None else delay
    jitter = parse_seconds(args.jitter, "--jitter", "ms")
    loss = parse_percent(args.loss, "--loss")
    back_loss = parse_percent(args.return_loss, "--return-loss") \
        if args.return_loss is not None else loss
    if args.burst is not None and args.burst < 1:
        raise UsageError("--burst: mean burst length must be at least 1 packet")
    common = dict(jitter=jitter, reorder=parse_percent(args.reorder, "--reorder"),
                  duplicate=parse_percent(args.duplicate, "--duplicate"))
    schedule = read_delay_schedule(args.delay_schedule) if args.delay_schedule else None
    forward = Link(delay=delay, loss=make_loss(loss, args.burst), delay_schedule=schedule,
                   rate=parse_bitrate(args.rate, "--rate") if args.rate else None,
                   trace=read_trace(args.trace) if args.trace else None,
                   queue_limit=parse_seconds(args.queue, "--queue", "ms"),
                   rng=random.Random(rng.random()), **common)
    backward = Link(delay=back_delay, loss=make_loss(back_loss, args.burst), delay_schedule=schedule,
                    rng=random.Random(rng.random()), **common)
    return forward, backward


def read_delay_schedule(path: str) -> list[tuple[float, float]]:
    """(seconds, one-way delay in s) pairs; a bad file is a one-line usage error."""
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip() or line.startswith("#"):
                    continue
                try:
                    t, ms = line.split()[:2]
                    out.append((float(t), float(ms) / 1000.0))
                except ValueError:
                    raise UsageError(f"--delay-schedule {path}:{n}: expected 'SECONDS DELAY_MS'") \
                        from None
    except OSError as exc:
        raise UsageError(f"--delay-schedule {path}: {exc.strerror}") from None
    if not out:
        raise UsageError(f"--delay-schedule {path}: no entries")
    return out


def parse_schedule(args: argparse.Namespace) -> list[tuple[float, str, float | None]]:
    """(time, "down"|"up"|"loss", value) events from --outage and --loss-at."""
    events = []
    for text in args.outage:
        start, sep, length = text.partition(":")
        try:
            t0, d = float(start), float(length)
        except ValueError:
            raise UsageError(f"--outage: {text!r} is not START:LENGTH in seconds") from None
        if not sep or t0 < 0 or d <= 0:
            raise UsageError(f"--outage: {text!r} is not START:LENGTH in seconds")
        events += [(t0, "down", None), (t0 + d, "up", None)]
    for text in args.loss_at:
        when, sep, loss = text.partition(":")
        try:
            t0 = float(when)
        except ValueError:
            raise UsageError(f"--loss-at: {text!r} is not TIME:LOSS (e.g. 5:20%)") from None
        if not sep:
            raise UsageError(f"--loss-at: {text!r} is not TIME:LOSS (e.g. 5:20%)")
        events.append((t0, "loss", parse_percent(loss, "--loss-at")))
    return sorted(events, key=lambda e: e[0])


def event_delays(events, epoch: float | None, wall_now: float):
    """(seconds from now, kind, value) for each event: its time counts from ``epoch`` (a Unix
    time) when given, else from now. Events already past are due at once, in order."""
    shift = 0.0 if epoch is None else epoch - wall_now
    return [(max(0.0, when + shift), kind, value) for when, kind, value in events]


def run(args: argparse.Namespace) -> int:
    listen = _host_port(args.listen, "--listen")
    target = _host_port(args.to, "--to")
    forward, backward = build_links(args)
    events = parse_schedule(args)
    if args.epoch is not None and abs(args.epoch - time.time()) > 86400:
        raise UsageError(f"--epoch {args.epoch:g} is not a Unix time (in seconds) within a day "
                         "of now")
    return asyncio.run(_relay(args, listen, target, forward, backward, events))


async def _relay(args, listen, target, forward, backward, events=()) -> int:
    from strata_roq.netsim.loss import BernoulliLoss
    from strata_roq.netsim.relay import UdpImpairmentRelay

    relay = UdpImpairmentRelay(listen, target, forward, backward)
    host, port = await relay.start()
    loop = asyncio.get_running_loop()

    def apply(kind: str, value) -> None:
        if kind in ("down", "up"):
            forward.set_up(kind == "up")
            backward.set_up(kind == "up")
        else:
            forward.loss = BernoulliLoss(value)
            backward.loss = BernoulliLoss(value)
        if not args.quiet:
            print(f"netsim: {kind}{'' if value is None else f' {value:.0%}'}", file=sys.stderr,
                  flush=True)

    wall = time.time()
    if args.epoch is not None:
        forward.origin = backward.origin = loop.time() + (args.epoch - wall)
    for delay, kind, value in event_delays(events, args.epoch, wall):
        if delay > 0:
            loop.call_later(delay, apply, kind, value)
        else:
            apply(kind, value)          # already due (an epoch in the past): in order, now
    if not args.quiet:
        print(f"netsim: relaying {host}:{port} -> {target[0]}:{target[1]}", file=sys.stderr,
              flush=True)
    from strata_roq.io.lifetime import run_until_stopped

    def tick() -> None:
        if args.stats_json:
            with open(args.stats_json, "a", encoding="utf-8") as f:
                f.write(json.dumps(relay.stats()) + "\n")

    try:
        await run_until_stopped(args.duration, 1.0, tick)
    finally:
        relay.close()
    if not args.quiet:
        print("netsim: " + json.dumps(relay.stats()), file=sys.stderr)
    return 0
