"""Receive RTP over QUIC (RoQ) or RIST (TR-06-1/2) and hand the stream on as UDP (MPEG-TS)
or RTP."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from strata_roq.clock import wall_offset
from strata_roq.errors import UsageError
from strata_roq.urls import parse_endpoint, parse_endpoints

#: With --playout, a repair's time beyond 1.25 x the minimum RTT (QUIC detects a loss 9/8 of
#: a round trip after sending; the resend takes a trip more): ACK delay and timer slack, ms.
REPAIR_EXTRA_MS = 25.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", required=True,
                   help="roq://@:PORT?cert=FILE&key=FILE, or rist://@:PORT[?buffer=MS&profile="
                   "simple|main&secret=..&aes-type=128|256][,rist://@:PORT2] (several = bonded)")
    p.add_argument("-o", "--output", required=True,
                   help="udp://HOST:PORT (MPEG-TS payload) or rtp://HOST:PORT (RTP as received)")
    p.add_argument("--latency", type=float, default=500.0,
                   help="ms a frame's stream may stay open before it is given up (STOP_SENDING)")
    p.add_argument("--feedback", choices=("ccfb", "none"), default="ccfb",
                   help="RTCP sent back over RoQ: RFC 8888 CCFB every 100 ms (default) or none")
    p.add_argument("--no-deadline", action="store_true",
                   help="hand on packets even when their RTP time says they are past --latency")
    p.add_argument("--reorder", type=float, default=50.0,
                   help="ms to wait for a missing RTP packet before moving on (default 50)")
    p.add_argument("--playout", action="store_true",
                   help="pace the output by the media's RTP timestamps through a jitter buffer "
                   "(adaptive delay, NetEQ-style) instead of handing packets on as they come")
    p.add_argument("--playout-min", type=float, default=10.0, metavar="MS",
                   help="with --playout: never play out sooner than this after the fastest "
                        "packets (default 10 ms); a cushion for sudden delay jumps, such as a "
                        "capacity fall before the encoder has followed the rate signal")
    p.add_argument("--playout-repair", type=float, default=None, metavar="MS",
                   help="with --playout: keep room for a lost packet's repair — the path's "
                        "current queueing plus this (default: 1.25 x the path's minimum RTT + "
                        "25 ms, loss detection and the resend); when a queue builds the output "
                        "slows (frames held up to 1.75x) instead of skipping what QUIC is still "
                        "repairing; 0: off")
    p.add_argument("--playout-nice", type=int, default=-10, metavar="N",
                   help="with --playout: run at this nice value (default -10; 0 leaves the "
                        "priority alone): pacing is timing-critical, and on a busy machine a "
                        "process at normal priority waits for the CPU; going below 0 needs root "
                        "or CAP_SYS_NICE, else a warning and normal priority")
    p.add_argument("--playout-realtime", type=int, default=10, metavar="N",
                   help="with --playout: real-time scheduling (SCHED_RR) at priority N "
                        "(default 10; 0 for none): a woken real-time process runs at once "
                        "instead of after a busy one's slice (beside two CPU hogs the output's "
                        "p99 timing error fell from 3.6-4.7 ms at nice -10 to 1.1-1.3 ms); "
                        "the kernel keeps 5%% of the CPU for the rest; needs root or "
                        "CAP_SYS_NICE, else a warning")
    p.add_argument("--web", metavar="HOST:PORT",
                   help="also serve the stream to browsers (player page + WebTransport, as "
                   "'strata-roq gateway' does); token/certificate options: use gateway")
    p.add_argument("--keylog", metavar="FILE", help="append TLS secrets (SSLKEYLOGFILE format)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds")
    p.add_argument("--stats-json", metavar="FILE", help="append a JSON stats line periodically")
    p.add_argument("--stats-interval", type=float, default=1000.0, metavar="MS",
                   help="ms between stats lines (default 1000)")
    p.add_argument("-q", "--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    targets = parse_endpoints(args.output, ("udp", "rtp", "rist"))
    target = targets[0]
    if target.scheme != "rist" and len(targets) > 1:
        raise UsageError("only rist:// outputs may be listed several (bonded) times")
    if target.listen and target.scheme != "rist":
        raise UsageError(f"{target.url}: the output is sent, give a host")
    if args.stats_interval <= 0:
        raise UsageError("--stats-interval must be greater than 0 ms")
    sources = parse_endpoints(args.input, ("roq", "rist"))
    if args.web and sources[0].scheme == "rist":
        raise UsageError("--web with a rist:// input: use 'strata-roq gateway'")
    if args.web:
        from strata_roq.commands.gateway import _host_port
        _host_port(args.web)
    if sources[0].scheme == "rist":
        if target.scheme == "rist":
            raise UsageError("a rist:// output needs a roq:// input (udp -> rist is 'send')")
        if any(s.scheme != "rist" for s in sources):
            raise UsageError("do not mix rist:// and roq:// inputs")
        from strata_roq.commands._rist import receive_rist
        return asyncio.run(receive_rist(args, sources, target))
    if len(sources) > 1:
        raise UsageError("several roq:// inputs need the bonding receiver (not built yet)")
    source = sources[0]
    if not source.listen:
        raise UsageError(f"{source.url}: receive listens, write roq://@:PORT")
    if args.latency <= 0:
        raise UsageError("--latency must be greater than 0 ms")
    if not 0 <= args.playout_min < args.latency:
        raise UsageError(f"--playout-min {args.playout_min:g} ms must be at least 0 and under "
                         f"--latency ({args.latency:g} ms)")
    if args.playout_repair is not None and not 0 <= args.playout_repair < args.latency:
        raise UsageError(f"--playout-repair {args.playout_repair:g} ms must be at least 0 and "
                         f"under --latency ({args.latency:g} ms)")
    if not -20 <= args.playout_nice <= 19:
        raise UsageError(f"--playout-nice {args.playout_nice} must be between -20 and 19")
    if not 0 <= args.playout_realtime <= 99:
        raise UsageError(f"--playout-realtime {args.playout_realtime} must be between 0 "
                         "(none) and 99")
    from strata_roq.certs import load_or_generate

    cert, key = load_or_generate(source.get_str("cert"), source.get_str("key"))
    return asyncio.run(_receive(args, source, targets, cert, key))


async def _receive(args, source, targets, cert: str, key: str) -> int:
    from aioquic.asyncio.server import serve

    from strata_roq.errors import ParseError
    from strata_roq.io.roq import make_configuration, receiver_protocol
    from strata_roq.io.udp import UdpSocket
    from strata_roq.rtp.packet import payload_bounds
    from strata_roq.rtp.reorder import ReorderBuffer

    target = targets[0]
    from strata_roq.rtp.deadline import DeadlineFilter, gap_wait, release_on_time

    from strata_roq.roq.feedback import CCFB_INTERVAL
    from strata_roq.roq.framing import RoqErrorCode
    from strata_roq.roq.session import SessionGate, parse_join
    from strata_roq.rtp.packet import is_rtcp
    from strata_roq.fec.packets import is_repair
    from strata_roq.fec.receiver import FecReceiver
    from strata_roq.playout.jitter import JitterBuffer
    from strata_roq.rtp.seq import SeqUnwrapper
    from strata_roq.rtp.ntp import seconds_from_ntp
    from strata_roq.rtp.rtcp import SenderReport, parse_rtcp_compound

    counters = {"forwarded": 0, "bad_rtp": 0, "bad_rtcp": 0, "late_dropped": 0,
                "late_at_release": 0,
                "fec_rebuilt_in_time": 0,
                "rtcp_received": 0, "other_session_dropped": 0}
    reorder = ReorderBuffer(args.reorder / 1000.0)
    deadline = None if args.no_deadline else DeadlineFilter(args.latency / 1000.0)
    if target.scheme == "rist":   # RoQ in, RIST out: RTP payload and timestamp carried over
        from strata_roq.commands._rist import open_rist_output

        rist, rist_core = await open_rist_output(targets)
        out = None
    else:
        out = await UdpSocket.open(peer=target.address)
        rist = None
    strip = target.scheme == "udp"

    web = None
    holder: dict = {}          # the server protocol and path_stats, once made (web stats)
    if args.web:
        from strata_roq.commands.gateway import _host_port, make_web_server

        web, web_feed = make_web_server(*_host_port(args.web), latency_ms=args.latency,
                                        extra_stats=lambda: {"paths": holder["paths"]()}
                                        if "paths" in holder else {})
        try:
            await web.start()
        except OSError as exc:
            raise UsageError(f"--web {args.web}: {exc}") from None
        if not args.quiet:
            print(f"receive: browsers: https://{args.web}/ (certificate sha256 "
                  f"{web.certs.sha256_hex})", file=sys.stderr, flush=True)

    def send_one(data: bytes) -> None:
        if web is not None:
            start, end = payload_bounds(data)
            web_feed(data[start:end], time.monotonic())
        if rist is not None:
            start, end = payload_bounds(data)
            rist_core.send(data[start:end], time.monotonic(), int.from_bytes(data[4:8], "big"))
        else:
            if strip:
                start, end = payload_bounds(data)
                data = data[start:end]
            out.sendto(data)
        counters["forwarded"] += 1

    def forward(packets: list[bytes]) -> None:
        for data in packets:
            send_one(data)
        if rist is not None and packets:
            rist.flush()

    gate = SessionGate()

    def new_playout() -> JitterBuffer:
        # auto (None): REPAIR_EXTRA_MS until packets come, then from the RTT (on_packet)
        fixed = args.playout_repair
        return JitterBuffer(minimum=args.playout_min / 1000.0,
                            repair=None if fixed == 0 else (fixed or REPAIR_EXTRA_MS) / 1000.0,
                            ceiling=None if args.no_deadline else args.latency / 1000.0)

    state = {"switches": 0, "deadline": deadline, "fec": FecReceiver(), "base_owd": 0.0,
             "oldest_released": 0.0, "release_stall": 0.0,
             "playout": new_playout() if args.playout else None,
             "nice": None,           # the nice value playout runs at (--playout-nice)
             "realtime": 0,          # its SCHED_RR priority (--playout-realtime; 0: none)
             "ts": SeqUnwrapper(bits=32), "wake_at": 0.0, "held_until": 0.0, "owd": None,
             "owd_at": 0.0}

    def refuse(conn) -> None:
        if not conn._gone:   # noqa: SLF001
            conn.close_with(RoqErrorCode.GENERAL_ERROR, "another bonded session is live on "
                            "this receiver")

    def on_rtcp(data: bytes, conn, now: float) -> None:
        counters["rtcp_received"] += 1
        try:
            packets = parse_rtcp_compound(data)
        except ParseError:
            counters["bad_rtcp"] += 1
            return
        for p in packets:
            if isinstance(p, SenderReport) and state["deadline"] is not None:
                # RTP time to the sender's wall clock: exact ages if its clock is ours
                state["deadline"].sync(p.rtp_timestamp, seconds_from_ntp(p.ntp_timestamp),
                                       now, now + wall_offset())
                continue
            join = parse_join(p)
            if join is None:
                continue
            if not gate.join(conn, join[0], join[1], now):
                refuse(conn)
            else:
                conn.bonded = True    # its sender detects losses from our reports alone

    def on_packet(packet, conn) -> None:
        now = time.monotonic()
        if is_rtcp(packet.data):     # Sender Reports, session joins: read, not handed on
            on_rtcp(packet.data, conn, now)
            return
        try:
            payload_bounds(packet.data)  # validates the RTP header
        except ParseError:
            counters["bad_rtp"] += 1
            return
        if not gate.admit(conn, now):
            counters["other_session_dropped"] += 1
            refuse(conn)
            return
        if gate.switches != state["switches"]:
            # Another sender took over: its sequence numbers and RTP clock start afresh.
            state["switches"] = gate.switches
            forward(reorder.restart())
            state["fec"] = FecReceiver()
            if state["playout"] is not None:
                state["playout"] = new_playout()
                state["ts"] = SeqUnwrapper(bits=32)
            if deadline is not None:
                state["deadline"] = DeadlineFilter(args.latency / 1000.0)
        fec = state["fec"]
        if is_repair(packet.data):          # FEC repair: rebuilds media, is never output
            rebuilt = fec.on_repair(packet.data)
        else:
            deliver(packet.data, conn, now, packet.stream_id)
            # media history for FEC only once the sender is seen sending repair
            rebuilt = fec.on_media((packet.data[2] << 8) | packet.data[3], packet.data) \
                if fec.stats.repair_packets else ()
        for data in rebuilt:
            counters["fec_rebuilt_in_time"] += deliver(data, conn, now)

    def fastest_owd(conn, now: float) -> float:
        """Base one-way delay of the fastest path: the deadline filter's minimum offset
        belongs to the fastest packets, so that is the delay to add back — not the delay of
        the path this packet took (a satellite's would be counted twice). Looked up over the
        live connections at most every 100 ms (this runs for every packet)."""
        if now - state["owd_at"] >= 0.1 or state["owd"] is None:
            best = None
            for c in [conn, *protocol.instances]:
                if c._gone:  # noqa: SLF001
                    continue
                rtt_min = c._quic._loss._rtt_min  # noqa: SLF001 - each path's min RTT
                if rtt_min not in (None, float("inf")) and (best is None or rtt_min < best):
                    best = rtt_min
            state["owd"], state["owd_at"] = (best / 2 if best is not None else 0.0), now
        return state["owd"]

    def start_lag(conn) -> float:
        """How far behind the first packet seen an earlier one may still come at start-up:
        the spread of the paths' one-way delays (min RTT / 2), plus a round trip of the
        fastest path — congestion windows start small, so the first key frame's burst
        leaves over round trips: its first packets lagged by 60-80 ms on two terrestrial
        paths (two lost as late: the first two pictures gone). (Not the slowest path's
        round trip: a satellite's 600 ms would hold the first pictures past the budget.)"""
        losses = [c._quic._loss for c in [conn, *protocol.instances]  # noqa: SLF001
                  if not c._gone and c._quic._loss._rtt_initialized]  # noqa: SLF001
        if not losses:
            return 0.0
        owds = [x._rtt_min / 2 for x in losses]  # noqa: SLF001
        return max(owds) - min(owds) + min(x._rtt_smoothed for x in losses)  # noqa: SLF001

    def deliver(data: bytes, conn, now: float, sid: int | None = None) -> bool:
        """Hand a media packet on unless it is too late; False if it was dropped. ``sid``:
        the QUIC stream it came on (None for a datagram or an FEC rebuild)."""
        hold = longest = None
        limit = state["deadline"]
        if limit is not None:
            if conn.roq.given_up(sid):
                counters["late_dropped"] += 1   # the rest of a frame already found late
                return False
            base_owd = state["base_owd"] = fastest_owd(conn, now)
            ts = int.from_bytes(data[4:8], "big")
            if not limit.admit(ts, now, base_owd):
                counters["late_dropped"] += 1   # better never than late
                conn.roq.give_up(sid, now)
                return False
            bonded = len(gate.tokens) > 1
            hold = gap_wait(limit.last_age, limit.latency, args.reorder / 1000.0, bonded)
            if not bonded:      # a gap QUIC still repairs may be waited for as long (may_fill)
                longest = gap_wait(limit.last_age, limit.latency, args.reorder / 1000.0, True)
        seq = (data[2] << 8) | data[3]
        jb = state["playout"]
        if jb is not None:
            if args.playout_repair is None:      # auto: the fastest path's RTT says how long
                jb.repair = 2.5 * fastest_owd(conn, now) + REPAIR_EXTRA_MS / 1000.0
            jb.push(seq, state["ts"].unwrap(int.from_bytes(data[4:8], "big")) / 90000.0,
                    data, now)
            due = jb.next_time()
            if due is not None and due < state["wake_at"]:
                playout_wake.set()
            return True
        settle = None
        if not reorder.started:
            if conn not in gate.tokens and not conn.bonded and conn.roq.nothing_before(sid):
                # One plain RoQ connection, and this stream was the first opened: nothing
                # earlier is on its way. (Settling for the reorder window put 50 ms on the
                # first pictures of every single-path stream: frame 0 at ~80 ms.)
                settle = 0.0
            elif hold is not None:
                # Settle only as long as an earlier packet can lag: the reorder window plus
                # the paths' start-up lag, not the bonded gap wait (almost the whole budget).
                settle = args.reorder / 1000.0 + start_lag(conn)
        forward_on_time(reorder.push(data, seq, now, hold, longest, settle))
        due = reorder.next_timeout()
        if due is not None and due < state["held_until"]:
            held_wake.set()                 # an earlier release than the flusher waits for
        return True

    def forward_on_time(packets: list[bytes]) -> None:
        """Better never than late at the last moment too: a packet held behind a gap is
        released before its deadline less a few ms, but a busy event loop can fire that
        release later still, and a batch's sends can be held up among themselves — so
        each packet is judged again just before it goes, and one found late is dropped
        (counted), not handed on late."""
        limit = state["deadline"]
        if limit is None:
            forward(packets)
            return
        if not packets:
            return
        r = release_on_time(packets, limit, state["base_owd"], time.monotonic, send_one)
        if rist is not None and r.sent:
            rist.flush()
        counters["late_at_release"] += r.late
        # the oldest packet handed on, by our clock: a probe that finds a frame older than
        # this (beyond its own hop) shows the output path late, not the judgement
        state["oldest_released"] = max(state["oldest_released"], r.oldest)
        state["release_stall"] = max(state["release_stall"], r.stall)

    playout_wake = asyncio.Event()

    async def play_out() -> None:
        """Hand packets on at their playout times (the jitter buffer's media pacing)."""
        while True:
            jb = state["playout"]
            now = time.monotonic()
            forward(jb.pop(now))
            missing = jb.given_up()
            if missing:
                # never came in time: stop QUIC repairing them (STOP_SENDING their streams)
                seqs = [s & 0xFFFF for s in missing[-256:]]
                for conn in holder["protocol"].instances:
                    if not conn._gone and conn.roq.give_up_missing(seqs, now):  # noqa: SLF001
                        conn.transmit()
            due = jb.next_time()
            state["wake_at"] = due if due is not None else now + 0.05
            await _sleep_until(playout_wake, state["wake_at"], now)

    held_wake = asyncio.Event()

    async def flush_held() -> None:
        """Release packets held behind a gap when their wait ends — at that moment, not on
        the next tick of a poll: a packet admitted close to its deadline has only the
        release slack left (``gap_wait``)."""
        while True:
            now = time.monotonic()
            forward_on_time(reorder.poll(now))
            due = reorder.next_timeout()
            state["held_until"] = due if due is not None else now + 0.05
            await _sleep_until(held_wake, state["held_until"], now)

    protocol = receiver_protocol(on_packet, args.latency / 1000.0,
                                 CCFB_INTERVAL if args.feedback == "ccfb" else None,
                                 gate.forget)
    holder["protocol"] = protocol
    reorder.may_fill = lambda seq: any(not conn._gone and conn.roq.may_fill(seq)  # noqa: SLF001
                                       for conn in protocol.instances)
    config = make_configuration(False, cert=cert, key=key,
                                keylog=args.keylog or source.get_str("keylog"))
    host, port = source.address
    server = await serve(host, port, configuration=config, create_protocol=protocol)
    if not args.quiet:
        print(f"receive: listening on roq://@{host}:{port} -> {target.url}", file=sys.stderr,
              flush=True)
    from strata_roq.io.lifetime import run_until_stopped

    def path_stats() -> list[dict]:
        """Per connected path: its name (from the session join), what it delivered, its
        QUIC RTT — what the dashboard plots per path."""
        proto = holder.get("protocol")
        out = []
        for c in (proto.instances if proto is not None else []):
            if c._gone:  # noqa: SLF001
                continue
            loss = c._quic._loss  # noqa: SLF001 - RTT estimates
            out.append({"name": gate.names.get(c, "anonymous"),
                        "packets": c.roq.stats.packets, "bytes": c.roq.stats.bytes,
                        "rtt_ms": round(loss._rtt_smoothed * 1000, 1)  # noqa: SLF001
                        if loss._rtt_initialized else None})  # noqa: SLF001
        return out

    holder["paths"] = path_stats

    def current() -> dict:
        stats = {"receivers": [r.stats.as_dict() for r in protocol.receivers], **counters,
                 "ccfb_sent": sum(p.feedback.reports for p in protocol.instances if p.feedback),
                 "reordered": reorder.reordered, "late": reorder.late,
                 "skipped": reorder.skipped, "duplicates": reorder.duplicates,
                 "waited_for_repair": reorder.waited_for_repair,
                 "session": gate.stats(), "fec": state["fec"].stats.as_dict(),
                 "paths": path_stats()}
        if state["deadline"] is not None:
            limit = state["deadline"]
            stats["deadline_clock"] = {
                "sender": limit.clock_bias is not None,
                "bias_ms": None if limit.clock_bias is None else round(limit.clock_bias * 1e3, 2),
                "reports_untrusted": limit.reports_untrusted,
                "oldest_released_ms": round(state["oldest_released"] * 1e3, 2),
                # the longest a packet's send took after it was judged in time
                "release_stall_ms": round(state["release_stall"] * 1e3, 2)}
        if state["playout"] is not None:
            jb = state["playout"]
            stats["playout"] = {**jb.stats.as_dict(),
                                "target_delay_ms": round(jb.target_delay * 1000, 1),
                                "nice": state["nice"], "realtime": state["realtime"]}
        if rist is not None:
            stats["rist"] = rist_core.stats_dict(time.monotonic())
        if web is not None:
            stats["web"] = {k: v for k, v in web.stats().items() if k != "per_viewer"}
        return stats

    def tick() -> None:
        if args.stats_json:
            with open(args.stats_json, "a", encoding="utf-8") as f:
                f.write(json.dumps(current()) + "\n")

    flusher = asyncio.ensure_future(flush_held())
    player = None
    if args.playout:
        from strata_roq.io.priority import raise_priority, raise_realtime

        state["nice"] = raise_priority(args.playout_nice)
        state["realtime"] = raise_realtime(args.playout_realtime)
        player = asyncio.ensure_future(play_out())
    try:
        await run_until_stopped(args.duration, args.stats_interval / 1000.0, tick)
        stats = current()
    finally:
        flusher.cancel()
        if player is not None:
            player.cancel()
        server.close()
        if web is not None:
            web.close()
        if out is not None:
            out.close()
        if rist is not None:
            rist.close()
    if not args.quiet:
        print("receive: " + json.dumps(stats), file=sys.stderr)
    return 0


async def _sleep_until(wake: asyncio.Event, due: float, now: float) -> None:
    """Sleep until ``due`` (50 ms at most), or until ``wake`` is set (something new is due
    sooner)."""
    wake.clear()
    try:
        await asyncio.wait_for(wake.wait(), max(0.0, min(due, now + 0.05) - now))
    except asyncio.TimeoutError:
        pass
