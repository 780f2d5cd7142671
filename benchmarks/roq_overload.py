"""Head-of-line blocking's cost under overload: stream-per-frame vs one long stream.

testsrc (6 Mbit/s CBR H.264 + AAC) -> send (RoQ, --latency 300) -> netsim (30 ms RTT,
bottleneck 3 Mbit/s for the first 10 s, then 20 Mbit/s) -> receive -> probe. For each mode:
frames seen, frames later than the budget, latency percentiles, RESET_STREAM counts, and how
long after the overload ends latency is back to normal (every later frame < 100 ms).

    .venv/bin/python benchmarks/roq_overload.py [--modes frame,stream]

The RoQ overload test (tests/interop/test_roq_overload.py) runs the same scenario.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile

LATENCY_MS = 300
#: The budget starts when a frame reaches Strata; the probe's latency at capture, before
#: testsrc encoded it. So each frame's encode time (testsrc --json reports it per frame) is
#: taken off, and what is left may exceed the budget by this much at most: the hop from the
#: receiver's output to the probe. Frames beyond that are "late".
OUTPUT_SLACK_MS = 5
OVERLOAD_S = 10.0
RUN_S = 15.0
FPS = 30
NORMAL_MS = 100.0


def _port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_trace(path: str) -> None:
    """mahimahi opportunities: 3 Mbit/s (one 1500-byte packet per 4 ms) for OVERLOAD_S, then
    20 Mbit/s (5 packets per 3 ms), 60 s in all."""
    lines = [str(t) for t in range(0, int(OVERLOAD_S * 1000), 4)]
    for t in range(int(OVERLOAD_S * 1000), 60_000):
        lines += [str(t)] * (2 if t % 3 else 1)
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")


def _start(argv: list[str], ready: str) -> tuple[subprocess.Popen, str]:
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while True:
        line = p.stderr.readline()
        if not line:
            raise RuntimeError(f"{argv[3]} exited: {p.communicate()[1][-2000:]}")
        if ready in line:
            return p, line


def _last_json(text: str, prefix: str) -> dict:
    for line in reversed(text.splitlines()):
        if line.startswith(prefix + ": {"):
            return json.loads(line[len(prefix) + 2:])
    return {}


def run_overload(mode: str, workdir: str, layer_drop: str = "auto") -> dict:
    py = [sys.executable, "-m", "strata_roq"]
    trace = os.path.join(workdir, "overload.trace")
    write_trace(trace)
    roq, media, out = _port(), _port(), _port()
    probe = subprocess.Popen(py + ["probe", "-i", f"udp://@127.0.0.1:{out}", "--json",
                                   "--per-frame", "--idle", "3", "--duration", "40", "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs = [probe]
    try:
        rx, _ = _start(py + ["receive", "-i", f"roq://@127.0.0.1:{roq}", "-o",
                             f"udp://127.0.0.1:{out}", "--latency", str(LATENCY_MS),
                             "--reorder", "20", "--duration", str(RUN_S + 6)], "listening on")
        procs.append(rx)
        relay, line = _start(py + ["netsim", "--listen", "127.0.0.1:0", "--to",
                                   f"127.0.0.1:{roq}", "--delay", "15ms", "--trace", trace,
                                   "--duration", str(RUN_S + 6)], "relaying")
        procs.append(relay)
        relay_port = int(line.split(" -> ")[0].rsplit(":", 1)[1])
        tx, _ = _start(py + ["send", "-i", f"udp://@127.0.0.1:{media}", "-o",
                             f"roq://127.0.0.1:{relay_port}?mode={mode}", "--insecure",
                             "--latency", str(LATENCY_MS), "--duration", str(RUN_S + 3),
                             "--layer-drop", layer_drop], "send:")
        procs.append(tx)
        src = subprocess.run(py + ["testsrc", "-o", f"udp://127.0.0.1:{media}", "--size",
                                   "640x360", "--bitrate", "6M", "--cbr", "--gop", "30",
                                   "--duration", str(RUN_S), "-q", "--json"],
                             check=True, timeout=RUN_S + 30, stdout=subprocess.PIPE, text=True)
        encode_ms = json.loads(src.stdout)["encode_ms"]
        send_stats = _last_json(tx.communicate(timeout=30)[1], "send")
        recv_stats = _last_json(rx.communicate(timeout=30)[1], "receive")
        relay_stats = _last_json(relay.communicate(timeout=30)[1], "netsim")
        report = json.loads(probe.communicate(timeout=60)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    by_frame = report.get("latency_by_frame", [])
    sent = int(RUN_S * FPS)
    transport = [(i, ms - encode_ms[i]) for i, ms in by_frame if i < len(encode_ms)]
    # (index, Strata's share, testsrc's encode time taken off, whether the probe found the
    # picture broken, whether the next one arrived: a picture that lost its tail and was
    # followed by a later one's middle - no start, its loss hidden by TS's 4-bit continuity
    # counter - would be dated by that later picture's packets)
    video = report.get("video", {})
    broken, seen = set(video.get("broken_indices", [])), {i for i, _ in by_frame}
    late = [[i, round(ms, 2), encode_ms[i], i in broken, i + 1 in seen] for i, ms in transport
            if ms > LATENCY_MS + OUTPUT_SLACK_MS]
    # Recovery: the first capture time after the overload from which every frame is normal.
    end = OVERLOAD_S
    recovered_at = None
    for k, (i, ms) in enumerate(by_frame):
        t = i / FPS
        if t >= end and all(m < NORMAL_MS for _, m in by_frame[k:]):
            recovered_at = t
            break
    receivers = recv_stats.get("receivers") or [{}]
    return {
        "mode": mode, "frames_sent": sent, "frames_seen": len(by_frame),
        "frames_late": len(late), "late": late[:10],
        "latency_ms": report.get("latency_ms"),
        "transport_max_ms": round(max((ms for _, ms in transport), default=0.0), 2),
        "encode_max_ms": max(encode_ms, default=None),
        "overload_frames_seen": sum(1 for i, _ in by_frame if i / FPS < end),
        "recovery_s": None if recovered_at is None else round(recovered_at - end, 2),
        "resets_sent": send_stats.get("resets_sent"), "resets_predicted": send_stats.get("resets_predicted"),
        "resets_received": receivers[0].get("resets_received"),
        "dropped_late": send_stats.get("dropped_late"),
        "bottleneck_drops": relay_stats.get("forward", {}).get("queue_drops"),
        "decoded": report.get("video", {}).get("decoded"),
        # pictures that arrived after one of their references was lost: they "decode" (the
        # decoder conceals), but not correctly
        "reference_missing": report.get("video", {}).get("reference_missing"),
        "references_lost": send_stats.get("references_lost"),
        "receiver_late_dropped": recv_stats.get("late_dropped"),
        # admitted in time, then released past the deadline (a late timer): dropped too
        "receiver_late_at_release": recv_stats.get("late_at_release"),
        # one machine: the receiver judges ages by the sender's clock (its Sender Reports)
        "deadline_clock": recv_stats.get("deadline_clock"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", default="frame,stream")
    ap.add_argument("--layer-drop", default="auto", choices=("auto", "gop", "off"),
                    help="send's --layer-drop (gop: a lost reference's GOP tail is dropped; "
                         "auto does that only with a key-frame channel, which this run has not)")
    args = ap.parse_args()
    print(f"{'mode':7} {'seen':>5} {'whole':>5} {'late':>5} {'p50':>7} {'p99':>7} {'max':>7} "
          f"{'recovery':>9} {'resets':>7}")
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            r = run_overload(mode, tmp, args.layer_drop)
        lat = r["latency_ms"] or {}
        rec = "never" if r["recovery_s"] is None else f"{r['recovery_s']:.2f}s"
        whole = r["frames_seen"] - (r["reference_missing"] or 0)
        print(f"{mode:7} {r['frames_seen']:5} {whole:5} {r['frames_late']:5} "
              f"{lat.get('p50', 0):7.1f} {lat.get('p99', 0):7.1f} {lat.get('max', 0):7.1f} "
              f"{rec:>9} {r['resets_sent']!s:>7}", flush=True)
        print("  " + json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
