"""Take a live stream in (raw UDP MPEG-TS or RTP) and send it out as RTP over QUIC (RoQ),
frame by frame, with every frame's deadline derived from --latency — or as RIST (TR-06-1/2)
to one or more receivers (comma-separated URLs bond: weight=0 duplicates, weight>0 shares).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import struct
import sys
import time

from strata_roq.clock import wall_offset
from strata_roq.cc import BONDED_CC, check_bonded_cc
from strata_roq.errors import ParseError, UsageError
from strata_roq.rtp.packet import payload_bounds
from strata_roq.units import parse_bitrate
from strata_roq.urls import parse_endpoint, parse_endpoints, parse_host_port

_RTP = struct.Struct(">BBHII")
#: At most one key-frame request this often (s): the encoder answers within a frame or two,
#: and a request repeated before its key frame could arrive would only cost another one.
KEY_REQUEST_INTERVAL = 0.2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", required=True, help="udp://@:PORT (MPEG-TS) or rtp://@:PORT")
    p.add_argument("-o", "--output", required=True,
                   help="roq://HOST:PORT?mode=frame|stream|datagram|hybrid, or "
                   "rist://HOST:PORT[?buffer=MS&profile=simple|main&secret=..&aes-type=128|256"
                   "&weight=N][,rist://...]")
    p.add_argument("--latency", type=float, default=500.0,
                   help="end-to-end budget in ms every frame's deadline is derived from")
    p.add_argument("--scheduler", default="storm",
                   help="bonding scheduler for several roq:// paths: storm (default), dwrr, "
                   "minrtt, blest, ldmp, redundant, dynamic")
    p.add_argument("--cc", default="delivery", metavar="|".join(BONDED_CC),
                   help="what paces each bonded path: its delivery-rate model alone (delivery, "
                   "the default), or, while the path shows a queue, capped by a congestion "
                   "controller — bbr-rt (BBR with a fixed 7.5 ms queue headroom; the choice "
                   "for cellular bonds), bbr-like, gradient (one-way-delay gradient), vegas "
                   "(coupled across the paths)")
    p.add_argument("--path-metrics", metavar="FILE|udp://@:PORT",
                   help="radio metrics per bonded path, JSON lines {\"path\": NAME, \"rsrp\": dBm, "
                   "\"rsrq\": dB, \"sinr\": dB}; a path below a watermark carries only redundancy")
    p.add_argument("--watermark", default="rsrp=-115", metavar="rsrp=..,rsrq=..,sinr=..",
                   help="signal watermarks for --path-metrics (default rsrp=-115)")
    p.add_argument("--fec", default="off", choices=("off", "static", "adaptive", "uep", "xor"),
                   help="repair for roq:// outputs: RaptorQ static (--fec-overhead of every "
                   "block), adaptive (per-path Gilbert-Elliott estimates against "
                   "--fec-target), uep (adaptive, shared out by --fec-table); xor: cross-path "
                   "parity, k packets on k paths + their XOR on another")
    p.add_argument("--fec-target", type=float, default=1e-4, metavar="P",
                   help="residual packet loss adaptive FEC aims for (default 1e-4)")
    p.add_argument("--fec-overhead", type=float, default=0.2, metavar="F",
                   help="repair per source packet for --fec static (default 0.2)")
    p.add_argument("--fec-table", default="", metavar="key=3,audio=2,psi=3,delta=1",
                   help="unequal protection weights per class for --fec uep")
    p.add_argument("--rate-to", metavar="URL",
                   help="send the encoder rate signal (JSON {\"rate_bps\": N} datagrams) to "
                        "udp://host:port (e.g. testsrc --rate-from), on change and every 250 ms; "
                        "with \"key_frame\": true when a reference picture was lost")
    p.add_argument("--rate-command", metavar="CMD",
                   help="run CMD on every rate change, {rate} replaced by bit/s (also in "
                        "$STRATA_RATE_BPS): to re-target an external encoder")
    p.add_argument("--tmmbr", action="store_true",
                   help="rtp:// input: send the rate signal back to the RTP source as RTCP "
                        "TMMBR (RFC 5104) and key-frame requests as PLI (RFC 4585), to the "
                        "address the RTP comes from (RTP/RTCP on one port, RFC 5761)")
    p.add_argument("--api", metavar="HOST:PORT",
                   help="serve the rate signal over HTTP: GET /api/rate (JSON), "
                        "/api/rate/events (Server-Sent Events on every change), /api/stats, "
                        "/metrics (Prometheus); port 0 picks one (printed)")
    p.add_argument("--rate-max", default="8M", metavar="BITRATE",
                   help="the encoder's ceiling: the signal never asks for more (default 8M)")
    p.add_argument("--rate-start", metavar="BITRATE",
                   help="where the signal starts before feedback shows what the path carries "
                        "(default: half of --rate-max; start low and climb, as WebRTC does)")
    p.add_argument("--layer-drop", choices=("auto", "gop", "off"), default="auto",
                   help="MPEG-TS media: when the path's (or the bonded paths' together) safe "
                        "rate falls under the media's, drop the disposable pictures (H.264 "
                        "nal_ref_idc 0, HEVC "
                        "sub-layer non-reference). After a lost reference picture, the rest of "
                        "its GOP predicts from a missing picture: auto (default) drops it only "
                        "when the encoder can be asked for a key frame (--rate-to/--api/--tmmbr), "
                        "so the freeze is short; gop always drops it (a clean freeze to the next "
                        "key frame rather than concealed damage); off drops nothing")
    p.add_argument("--insecure", action="store_true", help="do not verify the server certificate")
    p.add_argument("--keylog", metavar="FILE", help="append TLS secrets (SSLKEYLOGFILE format)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds")
    p.add_argument("--stats-json", metavar="FILE", help="append a JSON stats line periodically")
    p.add_argument("--stats-interval", type=float, default=1000.0, metavar="MS",
                   help="ms between stats lines (default 1000)")
    p.add_argument("-q", "--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    source = parse_endpoint(args.input, ("udp", "rtp"))
    if not source.listen:
        raise UsageError(f"{source.url}: the input is received, write {source.scheme}://@:PORT")
    if args.stats_interval <= 0:
        raise UsageError("--stats-interval must be greater than 0 ms")
    targets = parse_endpoints(args.output, ("roq", "rist"))
    if targets[0].scheme == "rist":
        if any(t.scheme != "rist" for t in targets):
            raise UsageError("do not mix rist:// and roq:// outputs")
        if args.fec != "off":
            raise UsageError("--fec applies to roq:// outputs (RIST repairs by retransmission)")
        from strata_roq.commands._rist import send_rist
        return asyncio.run(send_rist(args, source, targets))
    if args.latency <= 0:
        raise UsageError("--latency must be greater than 0 ms")
    if args.path_metrics:
        from strata_roq.multipath.radio import parse_watermarks

        if len(targets) < 2:
            raise UsageError("--path-metrics needs several roq:// paths (it steers bonding)")
        parse_watermarks(args.watermark)
        if args.path_metrics.startswith("udp://"):
            if not parse_endpoint(args.path_metrics, ("udp",)).listen:
                raise UsageError(f"--path-metrics {args.path_metrics}: write udp://@:PORT")
    if args.fec != "off":
        from strata_roq.fec.policy import parse_table
        if args.fec == "xor" and len(targets) < 2:
            raise UsageError("--fec xor codes across paths: give two or more roq:// paths")
        if not 0 < args.fec_target < 1:
            raise UsageError(f"--fec-target must be between 0 and 1, not {args.fec_target:g}")
        if not 0 < args.fec_overhead <= 4:
            raise UsageError(f"--fec-overhead must be in (0, 4], not {args.fec_overhead:g}")
        try:
            parse_table(args.fec_table)
        except ValueError as exc:
            raise UsageError(f"--fec-table: {exc}") from None
    if args.tmmbr and source.scheme != "rtp":
        raise UsageError("--tmmbr answers an RTP source: use an rtp://@:PORT input")
    if args.api:
        parse_host_port(args.api, "--api")
    check_bonded_cc(args.cc)
    if len(targets) > 1 or args.fec != "off":   # FEC rides the bonded sender, even on 1 path
        from strata_roq.sched import make_scheduler
        make_scheduler(args.scheduler)            # a bad name is a usage error, before any I/O
        if any(t.listen for t in targets):
            raise UsageError("bonded paths connect to a receiver: give each a host")
        if args.layer_drop == "gop":
            raise UsageError("--layer-drop gop needs one roq:// path (bonded paths thin the "
                             "disposable pictures only: --layer-drop auto)")
        return asyncio.run(_send_bonded(args, source, targets))
    if args.cc != "delivery":
        raise UsageError("--cc paces bonded paths: give two or more roq:// outputs (one path "
                         "is paced by its QUIC connection)")
    target = targets[0]
    if target.listen:
        raise UsageError(f"{target.url}: send connects to a receiver, give its host")
    mode = target.get_choice("mode", ("frame", "stream", "datagram", "hybrid"), "frame")
    if args.latency <= 0:
        raise UsageError("--latency must be greater than 0 ms")
    return asyncio.run(_send(args, source, target, mode))


async def _rate_loop(args, paths: int = 0):
    """The encoder rate estimator and where its signal goes, when asked for (else Nones);
    ``paths``: a bonded sender's path count (an AggregateRate over them)."""
    if not (args.rate_to or args.rate_command or args.api or args.tmmbr):
        return None, None
    from strata_roq.cc.encoder_rate import EncoderRate
    from strata_roq.io.rate_out import RateOutput

    ceiling = parse_bitrate(args.rate_max, "--rate-max")
    start = parse_bitrate(args.rate_start, "--rate-start") if args.rate_start else ceiling // 2
    if start > ceiling:
        raise UsageError(f"--rate-start {args.rate_start} is above --rate-max {args.rate_max}")
    targets = parse_endpoints(args.rate_to, ("udp",)) if args.rate_to else []
    for t in targets:
        if t.listen:
            raise UsageError(f"{t.url}: --rate-to sends, give the encoder's host and port")
    if paths:
        from strata_roq.cc.aggregate_rate import AggregateRate

        estimator = AggregateRate(paths, start, max_bps=ceiling)
    else:
        estimator = EncoderRate(start, max_bps=ceiling)
    return estimator, await RateOutput.open(targets, args.rate_command)


def _heard_feedback(roq, estimator, arrivals: dict, now: float, hold) -> None:
    """One CCFB report to the estimator. With an encoder following its signal, the
    media's excess at a capacity fall is transient: ``hold`` (a FallHold) caps QUIC's window
    at what the path serves × (min RTT + a short queue) until that excess has left, so it
    waits here instead of overflowing the bottleneck, whose drops would be resent into the
    same full queue, past the receiver's playout; meanwhile frames go in decode order."""
    from strata_roq.cc.fall_detector import BUSY
    from strata_roq.roq.window_cap import set_window_cap

    estimator.on_feedback([item for items in arrivals.values() for item in items], now)
    if hold is not None:
        loss = roq.quic._loss  # noqa: SLF001 - aioquic's RTT and flight state
        was = hold.cap
        queue = estimator.report_queue
        # (what waits matters only to a hold: not a walk over every open stream per report)
        waiting = roq.unsent_bytes() if was is not None else 0
        cap = hold.on_report(now, estimator.fell_bps, loss._rtt_min,  # noqa: SLF001
                             loss.bytes_in_flight, waiting,
                             drained=queue is not None and queue <= BUSY)
        if cap != was:
            set_window_cap(roq.quic, cap)
            roq.set_decode_order(cap is not None)


async def _send(args, source, target, mode: str) -> int:
    from aioquic.asyncio.client import connect

    from strata_roq.io.lifetime import stop_on_signals
    from strata_roq.io.roq import RoqSenderProtocol, make_configuration
    from strata_roq.io.udp import UdpSocket
    from strata_roq.media.frames import Framer
    from strata_roq.roq.feedback import SenderReports, transport_stats
    from strata_roq.roq.window_cap import FallHold, window_cap

    config = make_configuration(True, insecure=args.insecure or target.get_bool("insecure"),
                                keylog=args.keylog or target.get_str("keylog"),
                                server_name=target.host)
    framer = Framer(latency=args.latency / 1000.0, mode="rtp")
    sock = await UdpSocket.open(bind=source.address)
    ssrc, seq = random.randrange(1 << 32) & ~1, random.randrange(1 << 16)
    rate, rate_out = await _rate_loop(args)
    wrap = source.scheme == "udp"
    layers = _Layers(rate) if args.layer_drop != "off" else None
    drop_gop_tail = args.layer_drop == "gop" or (args.layer_drop == "auto" and rate_out is not None)
    estimator = rate or (layers.estimator if layers else None)
    feedback = _SourceFeedback(sock) if args.tmmbr else None
    live: dict = {}
    feed, api = await _start_api(args, lambda: current(live["proto"]) if "proto" in live else {})
    # An encoder follows the signal, so a fall's excess is transient: kept back in the sender
    # (on frame streams, whose backlog the sender sees and orders)
    hold = FallHold() if rate is not None and mode == "frame" else None
    start = time.monotonic()
    reports = None
    encoder_addr = None            # where the media (the encoder) was last seen sending from
    last_ts = 0

    def current(proto) -> dict:
        out = {**proto.roq.stats.as_dict(), "rtcp_sent": proto.rtcp.sent,
               "quic": transport_stats(proto._quic)}  # noqa: SLF001
        out["elapsed_s"] = round(time.monotonic() - start, 3)
        out["cpu_s"] = round(time.process_time(), 3)
        out["capture_stamps"] = _stamp_stats(framer)
        if estimator is not None:
            out["capacity_falls"] = estimator.fall.falls     # seen within one report
        if hold is not None:
            out["fall_holds"] = hold.holds                   # falls whose excess was kept
            out["window_cap_bytes"] = window_cap(proto._quic)  # noqa: SLF001 - back, and now
        if rate is not None:
            out["rate_signal_bps"] = int(rate.rate_bps)
            out["rate_told"] = rate_out.told
            out["key_frames_requested"] = rate_out.key_requests
            out["rate_command_runs"] = rate_out.command_runs
        if feedback is not None:
            out["tmmbr_sent"], out["pli_sent"] = feedback.tmmbr_sent, feedback.pli_sent
        if layers is not None:
            out["layers"] = layers.stats(time.monotonic())
        return out

    try:
        async with connect(target.host, target.port, configuration=config,
                           create_protocol=lambda *a, **k: RoqSenderProtocol(*a, mode=mode, **k),
                           wait_connected=True) as proto:
            if feed is not None:
                live["proto"] = proto
            if estimator is not None:
                # Send times are taken when a packet leaves in a QUIC packet, not when it is
                # written: QUIC's own window and pacer are not a queue on the path.
                proto.roq.on_wire = estimator.on_sent
                proto.roq.on_ccfb = lambda arrivals, now: _heard_feedback(
                    proto.roq, estimator, arrivals, now, hold)
            # Everything up to the next key frame is undecodable: drop it (it would only load
            # the path) when asked to — the pictures still to come and those queued on QUIC
            # streams — and ask the encoder for a key frame now.
            def drop_tail(index: int) -> None:
                layers.thinner.reference_lost()
                proto.roq.drop_gop_tail(index)

            # The request waits while the path is dark: a key frame sent into an outage is
            # lost like the picture it replaces (the pictures meanwhile are dropped).
            keys = _KeyRequests(rate, rate_out, feedback, feed, start,
                                drop_tail if layers is not None and drop_gop_tail else None,
                                reachable=lambda: proto.roq.reachable(time.monotonic()))
            proto.roq.on_reference_lost = keys.reference_lost
            if not args.quiet:
                print(f"send: {source.url} -> {target.url} (mode {mode}, latency {args.latency:g} ms)",
                      file=sys.stderr, flush=True)
            next_stats = start + args.stats_interval / 1000.0
            with stop_on_signals() as stop:
                while not stop.is_set() and (not args.duration
                                             or time.monotonic() - start < args.duration):
                    item = await sock.recv(timeout=0.2)
                    framer.wall_offset = wall_offset()
                    while item is not None:
                        data, addr, arrival = item
                        item = sock.get_nowait()
                        if addr != encoder_addr:
                            encoder_addr = addr
                            if rate is not None:
                                rate.retell()   # the encoder just started: tell it now
                        if feedback is not None:
                            feedback.source = addr
                        if layers is not None:
                            data = layers.thin(data, wrap, arrival)
                            if not data:
                                continue            # all of it was a dropped picture
                        if wrap:
                            last_ts = int(arrival * 90000) & 0xFFFFFFFF
                            data = _RTP.pack(0x80, 33, seq, last_ts, ssrc) + data
                            seq = (seq + 1) & 0xFFFF
                        elif len(data) >= 12:
                            last_ts = int.from_bytes(data[4:8], "big")
                            ssrc = int.from_bytes(data[8:12], "big")
                        frame = framer.push(data, arrival)
                        if frame is not None:
                            keys.ssrc = ssrc
                            keys.frame_sent(frame)
                            proto.roq.send(data, frame, arrival)
                            proto.transmit()        # (the estimator hears when it left)
                        for done in framer.pop_completed():
                            proto.roq.end_frame(done)
                    now = time.monotonic()
                    if rate is not None and (told := rate.poll(now)) is not None:
                        rate_out.tell(told)
                        if feedback is not None:
                            feedback.rate(ssrc, told)
                        if feed is not None:
                            feed.publish(told, rate.instant_bps, now - start)
                    if layers is not None:
                        layers.decide(now)
                    keys.poll()                   # a key-frame request waiting for the path
                    if proto.roq.stats.packets:   # Sender Reports once media flows (§5.4)
                        reports = reports or SenderReports(ssrc)
                        # Our own RTP clock is the monotonic clock at 90 kHz: the SR gives
                        # its reading now (RFC 3550 §6.4.1), not the last packet's arrival,
                        # so a receiver on our clock can tell each packet's age exactly.
                        # (the wall time *at* ``now``, from a tight pair of readings: read
                        # later, after the work above, it made the packets look younger)
                        sr_ts = int(now * 90000) & 0xFFFFFFFF if wrap else last_ts
                        sr = reports.poll(now, now + wall_offset(), sr_ts,
                                          proto.roq.stats.packets, proto.roq.stats.bytes)
                        if sr is not None:
                            proto.rtcp.send(sr)
                    proto.transmit()
                    if args.stats_json and now >= next_stats:
                        next_stats += args.stats_interval / 1000.0
                        with open(args.stats_json, "a", encoding="utf-8") as f:
                            f.write(json.dumps(current(proto)) + "\n")
            stats = current(proto)
    except ConnectionError as exc:
        print(f"send: error: cannot reach {target.url}: {exc}", file=sys.stderr)
        return 1
    finally:
        sock.close()
        if rate_out is not None:
            rate_out.close()
        await _stop_api(api)
    if not args.quiet:
        print("send: " + json.dumps(stats), file=sys.stderr)
    return 0


def _stamp_stats(framer) -> dict:
    """Pictures whose deadline counts from the capture time they carry, and stamps ignored
    as another machine's clock."""
    return {"used": framer.stamps_used, "implausible": framer.stamps_implausible}


async def _start_api(args, stats):
    """``--api``: the rate feed and its HTTP server (else Nones)."""
    if not args.api:
        return None, None
    from strata_roq.io.rate_api import RateFeed, serve_rate_api

    feed = RateFeed(stats=stats)
    try:
        api = await serve_rate_api(feed, *parse_host_port(args.api, "--api"))
    except OSError as exc:
        raise UsageError(f"--api {args.api}: {exc}") from None
    if not args.quiet:
        print(f"send: rate API on http://{args.api.rpartition(':')[0] or '0.0.0.0'}:{api[2]}"
              "/api/rate", file=sys.stderr, flush=True)
    return feed, api


async def _stop_api(api) -> None:
    if api is not None:
        api[0].should_exit = True
        await api[1]


class _SourceFeedback:
    """RTCP back to the RTP source (--tmmbr): TMMBR with the rate signal, PLI for a key
    frame; reduced-size RTCP (RFC 5506), sent from the input socket to the address the RTP
    comes from."""

    def __init__(self, sock) -> None:
        self.sock = sock
        self.source = None
        self.own_ssrc = random.randrange(1 << 32)
        self.tmmbr_sent = self.pli_sent = 0

    def rate(self, media_ssrc: int, rate_bps: int) -> None:
        from strata_roq.rtp.rtcp import Tmmbr

        if self.source is not None:
            self.sock.sendto(Tmmbr(self.own_ssrc, [(media_ssrc, rate_bps, 0)]).build(),
                             self.source)
            self.tmmbr_sent += 1

    def key_frame(self, media_ssrc: int) -> None:
        from strata_roq.rtp.rtcp import Pli

        if self.source is not None:
            self.sock.sendto(Pli(self.own_ssrc, media_ssrc).build(), self.source)
            self.pli_sent += 1


class _KeyRequests:
    """A reference picture will not arrive whole: ask the encoder for a key frame (on the
    rate channel, and a PLI toward an RTP source with --tmmbr) — at most every
    KEY_REQUEST_INTERVAL, and not when a key frame newer than the lost picture already went
    out (decoding restarts there). ``on_lost(index)`` is any extra action (dropping the GOP
    tail).
    ``reachable()``, when given, says whether any path can carry the key frame now; while
    none can (every path dark), the request waits: a key frame sent into an outage is lost
    like the picture it replaces. A key frame that answered a request and is lost in its turn
    brings a new request at once: the interval only spares an encoder that has not answered
    yet."""

    def __init__(self, rate, rate_out, feedback, feed, start: float, on_lost=None,
                 reachable=None, clock=time.monotonic) -> None:
        self.rate, self.rate_out, self.feedback, self.feed = rate, rate_out, feedback, feed
        self.start = start
        self.on_lost = on_lost
        self.reachable = reachable
        self.clock = clock
        self._outstanding = False              # asked, and no key frame has gone out since
        self.ssrc = 0                          # the media's, for a PLI
        self.lost = 0                          # reference pictures reported lost
        self.pending = False                   # a request waits for a path
        self._last_request = -KEY_REQUEST_INTERVAL
        self._last_key_frame = -1              # index of the newest key frame sent
        self._last_lost = -1

    def frame_sent(self, frame) -> None:
        if frame.starts_gop:
            self._last_key_frame = max(self._last_key_frame, frame.index)
            self._outstanding = False

    def reference_lost(self, index: int) -> None:
        if index < self._last_key_frame:
            return
        if index != self._last_lost:           # (each of its packets may report it)
            self._last_lost = index
            self.lost += 1
        if self.on_lost is not None:
            self.on_lost(index)
        self.pending = True
        self.poll()

    def poll(self) -> None:
        """Send a waiting request once a path can carry the key frame."""
        if not self.pending or self.rate_out is None:
            return
        if self.reachable is not None and not self.reachable():
            return
        now = self.clock()
        if self._outstanding and now - self._last_request < KEY_REQUEST_INTERVAL:
            self.pending = False               # one just went out: its key frame serves
            return
        self.pending = False
        self._last_request = now
        self._outstanding = True
        rate = self.rate
        self.rate_out.tell(int(rate.rate_bps), key_frame=True)
        if self.feedback is not None:
            self.feedback.key_frame(self.ssrc)
        if self.feed is not None:
            self.feed.publish(int(rate.rate_bps), rate.instant_bps, now - self.start, True)


class _Layers:
    """Layer thinning: the safe-rate estimate (the encoder rate loop's, or one of its own —
    an AggregateRate over bonded paths), the policy, and the TS thinner; RTP input keeps a
    gap-free sequence (dropped packets are renumbered out)."""

    def __init__(self, rate, paths: int = 0) -> None:
        from strata_roq.cc.aggregate_rate import AggregateRate
        from strata_roq.cc.encoder_rate import EncoderRate
        from strata_roq.cc.layer_policy import LayerPolicy
        from strata_roq.media.thinning import TsThinner

        # Without an encoder to steer, the estimate is only measured: it starts high and the
        # delivery cap brings it down to what the path shows.
        self._own_estimator = rate is None
        if rate is None:
            rate = AggregateRate(paths, 100e6, max_bps=1e9) if paths else \
                EncoderRate(100e6, max_bps=1e9)
        self.estimator = rate
        self._bonded = isinstance(rate, AggregateRate)
        self.policy = LayerPolicy()
        self.thinner = TsThinner()
        self.seq_shift = 0          # RTP input: packets removed whole so far
        self.rtp_other = 0          # RTP packets that are not MP2T: never thinned

    def thin(self, data: bytes, raw_ts: bool, now: float) -> bytes:
        self.policy.on_media(len(data) + (12 if raw_ts else 0), now)
        if raw_ts:
            return self.thinner.filter(data)
        try:
            start, end = payload_bounds(data)
        except ParseError:
            return data                       # the framer counts it
        if data[1] & 0x7F != 33:
            self.rtp_other += 1
            return data
        payload = data[start:end]
        thinned = self.thinner.filter(payload)
        if not thinned:
            self.seq_shift += 1
            return b""
        if thinned is not payload:
            data = data[:start] + thinned + data[end:]
        if self.seq_shift:
            seq = (((data[2] << 8) | data[3]) - self.seq_shift) & 0xFFFF
            data = data[:2] + seq.to_bytes(2, "big") + data[4:]
        return data

    def decide(self, now: float, alive: list[bool] | None = None,
               capacity: list[float] | None = None) -> None:
        """Bonded: ``alive`` and ``capacity`` (bit/s) per path, for an estimator of our own."""
        est = self.estimator
        if self._bonded:
            if self._own_estimator:
                est.update(alive, now, capacity)
        else:
            if self._own_estimator:
                est.poll(now)                 # (its silence rule: no feedback, no rate)
            est.demand_bps = self.policy.media_bps(now)
        self.thinner.drop_disposable = self.policy.update(self.safe_bps(now), now)

    def safe_bps(self, now: float) -> float:
        """What the path(s) carry of the media itself: over bonded paths, less what the
        bonding adds on top (duplicates, repairs, retransmissions); over one path, its
        capacity as measured under a standing queue: the media fits or it does not."""
        est = self.estimator
        return est.instant_bps / est.overhead if self._bonded else est.carries_bps(now)

    def stats(self, now: float) -> dict:
        extra = {} if self._bonded else {
            "capacity_bps": int(self.estimator.capacity_bps(now) or 0),
            "estimate_bps": int(self.estimator.instant_bps)}
        return {**self.policy.stats(now), "safe_bps": int(self.safe_bps(now)), **extra,
                **self.thinner.stats.as_dict()}


async def _send_bonded(args, source, targets) -> int:
    """Several roq:// paths: one QUIC connection each, a scheduler choosing per packet."""
    from strata_roq.io.bonded import BondedDriver, open_path
    from strata_roq.io.lifetime import stop_on_signals
    from strata_roq.io.roq import make_configuration
    from strata_roq.io.udp import UdpSocket
    from strata_roq.media.frames import Framer
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.multipath.path import Path
    from strata_roq.roq.sender import HYBRID_STREAM_PRIORITY, MODES
    from strata_roq.sched import make_scheduler
    from strata_roq.sched.base import SchedPacket

    latency = args.latency / 1000.0
    paths = [Path(t.get_str("name") or f"path{i + 1}") for i, t in enumerate(targets)]
    options = {"latency": latency} if args.scheduler == "storm" else {}
    # Feedback is the receiver's CCFB, every 100 ms on each connection.
    fec = None
    if args.fec != "off":
        from strata_roq.fec.blocks import REPAIR_SEQ_BASE, FecSender
        from strata_roq.fec.policy import ProtectionPolicy, parse_table

        if args.scheduler == "storm":       # FEC is the redundancy: no duplication on top
            options.update(dup_reliable=1.0, dup_unreliable=1.0)
        repair_seqs = iter(range(REPAIR_SEQ_BASE, 1 << 62))
        fec = FecSender(ProtectionPolicy(args.fec, overhead=args.fec_overhead,
                                         target=args.fec_target,
                                         weights=parse_table(args.fec_table)),
                        len(paths), lambda: next(repair_seqs), window=min(0.1, latency / 5))
    from strata_roq.roq.feedback import CCFB_INTERVAL

    # The receiver reports every 25 ms on bonded paths (so losses show sooner), but the loss
    # timers keep the margins of a 100 ms interval: a RoQ connection reorders packets by
    # stream priority, and tighter timers took a clean Wi-Fi path, or a satellite's first
    # seconds, for lossy (STORM then duplicated, or left the satellite for good).
    core = BondedSender(paths, make_scheduler(args.scheduler, **options),
                        feedback_interval=CCFB_INTERVAL, cc=args.cc)
    modes = [t.get_choice("mode", MODES, "frame") for t in targets]

    def dial(i: int):
        t = targets[i]
        config = make_configuration(True, insecure=args.insecure or t.get_bool("insecure"),
                                    keylog=args.keylog or t.get_str("keylog"),
                                    server_name=t.host)
        return open_path(t.host, t.port, config, bind=t.get_str("bind"), device=t.get_str("dev"),
                         mode=modes[i])

    ssrc, seq = random.randrange(1 << 32) & ~1, random.randrange(1 << 16)
    driver = BondedDriver(paths, core, dial, ssrc=ssrc, fec=fec)
    radio = None
    if args.path_metrics:
        from strata_roq.io.radio import follow_metrics
        from strata_roq.multipath.radio import RadioFeed, parse_watermarks

        radio = RadioFeed(paths, parse_watermarks(args.watermark))
        driver.radio = radio
    await driver.start()
    radio_task = asyncio.ensure_future(follow_metrics(args.path_metrics, radio)) \
        if radio is not None else None
    framer = Framer(latency=latency, mode="rtp")
    sock = await UdpSocket.open(bind=source.address)
    wrap = source.scheme == "udp"
    counter = 0
    start = time.monotonic()
    encoder_addr = None            # where the media (the encoder) was last seen sending from
    rate, rate_out = await _rate_loop(args, len(paths))
    layers = _Layers(rate, len(paths)) if args.layer_drop != "off" else None
    driver.rate = layers.estimator if layers is not None else rate
    feedback = _SourceFeedback(sock) if args.tmmbr else None
    keys = None                      # key-frame requests, once the rate API is up

    def current() -> dict:
        out = driver.stats()
        out["elapsed_s"] = round(time.monotonic() - start, 3)
        out["capture_stamps"] = _stamp_stats(framer)
        if rate is not None:
            out.update(rate_signal_bps=int(rate.rate_bps), safe_bps=int(rate.instant_bps),
                       bonding_overhead=round(rate.overhead, 3), rate_told=rate_out.told,
                       key_frames_requested=rate_out.key_requests)
        if keys is not None:
            out["references_lost"] = keys.lost
        if feedback is not None:
            out["tmmbr_sent"] = feedback.tmmbr_sent
        if layers is not None:
            out["layers"] = layers.stats(time.monotonic())
        return out

    feed, api = await _start_api(args, current)
    # Bonded: a lost reference brings a key-frame request, never a GOP-tail drop (a copy of
    # the packet may still have gone another way).
    keys = _KeyRequests(rate, rate_out, feedback, feed, start,
                        reachable=lambda: any(p.alive for p in paths))
    keys.ssrc = ssrc
    driver.on_reference_lost = keys.reference_lost
    if not args.quiet:
        print(f"send: {source.url} -> {len(targets)} paths "
              f"({', '.join(p.name for p in paths)}; scheduler {args.scheduler}, cc {args.cc}, "
              f"latency {args.latency:g} ms)", file=sys.stderr, flush=True)
    next_stats = start + args.stats_interval / 1000.0
    try:
        with stop_on_signals() as stop:
            while not stop.is_set() and (not args.duration
                                         or time.monotonic() - start < args.duration):
                item = await sock.recv(timeout=0.2)
                framer.wall_offset = wall_offset()
                while item is not None:
                    data, addr, arrival = item
                    item = sock.get_nowait()
                    if addr != encoder_addr:
                        encoder_addr = addr
                        if rate is not None:
                            rate.retell()       # the encoder just started: tell it now
                    if feedback is not None:
                        feedback.source = addr
                    if layers is not None:
                        data = layers.thin(data, wrap, arrival)
                        if not data:
                            continue            # all of it was a dropped picture
                    if wrap:
                        data = _RTP.pack(0x80, 33, seq, int(arrival * 90000) & 0xFFFFFFFF,
                                         ssrc) + data
                        seq = (seq + 1) & 0xFFFF
                    frame = framer.push(data, arrival)
                    if frame is not None:
                        keys.frame_sent(frame)
                        counter += 1
                        packet = SchedPacket(counter, len(data), frame.index, frame.deadline,
                                             frame.priority,
                                             frame.priority >= HYBRID_STREAM_PRIORITY,
                                             frame.starts_gop, frame.gop or 0)
                        driver.push(packet, frame, data, arrival)
                    for done in framer.pop_completed():
                        driver.end_frame(done)
                driver.kick()
                now = time.monotonic()
                alive = [p.alive for p in paths]
                # what each path is known to carry since its last capacity fall (the 2-s
                # maximum would tell the encoder the pre-fall rate whenever a queue drains)
                capacity = [p.carrying_rate * 8 for p in paths]
                if rate is not None:
                    rate.update(alive, now, capacity)
                    if (told := rate.poll(now)) is not None:
                        rate_out.tell(told)
                        if feedback is not None:
                            feedback.rate(ssrc, told)
                        if feed is not None:
                            feed.publish(told, rate.instant_bps, now - start)
                if layers is not None:
                    layers.decide(now, alive, capacity)
                keys.poll()
                if args.stats_json and now >= next_stats:
                    next_stats += args.stats_interval / 1000.0
                    with open(args.stats_json, "a", encoding="utf-8") as f:
                        f.write(json.dumps(current()) + "\n")
    finally:
        if radio_task is not None:
            radio_task.cancel()
        stats = current()
        sock.close()
        driver.close()
        if rate_out is not None:
            rate_out.close()
        await _stop_api(api)
    if not args.quiet:
        print("send: " + json.dumps(stats), file=sys.stderr)
    return 0
