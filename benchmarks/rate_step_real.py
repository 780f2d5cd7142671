"""The encoder rate loop through a capacity step on real sockets: testsrc (ceiling 6 Mbit/s,
re-targeted live by the rate signal) → send (--rate-to) → a `strata-roq netsim` relay whose
capacity follows 8 → 2.5 → 8 Mbit/s (15 ms one way, 6 s each) → receive → probe.

Per run: the rate signal's lowest and mean value while the path carries 2.5 Mbit/s (from
0.3 s after it first falls under 3 Mbit/s), how long after the fall it is back over
4.8 Mbit/s (the path went back to 8 six seconds after falling), the probe's latency
p50/p99/max, the longest gap between pictures leaving the receiver and pictures missing.
A second probe watches testsrc's own output, so the encoder's own cadence (a key frame
takes longer to encode and leaves later) is not taken for a stall: "added" is the longest
a picture was held beyond its source spacing (over consecutive pictures out of the
receiver: their gap there minus their gap leaving testsrc); a missing picture shows under
"missing". No stall > one frame interval = nothing missing and "added" under one interval.
"broken": pictures that arrived but cannot be shown intact (damaged, or predicted from a
picture that was), from the probe's reference chain, each counted once. "queue drops": the
relay's, at its full queue; "holds": capacity falls whose excess the sender kept back.
Each run is made without and with `receive --playout --playout-min MS` (a fixed cushion
under the jitter buffer), so the step's latency bump can be absorbed by the receiver.

    .venv/bin/python benchmarks/rate_step_real.py [--runs 2] [--playout-min 300] [--queue 200ms]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from bonding_real import PY, Proc, free_port  # noqa: E402

STEPS = [(8e6, 6.0), (2.5e6, 12.0), (8e6, 40.0)]     # (rate, until s)


def write_trace(path: str) -> None:
    """A mahimahi trace: one 1500-byte delivery opportunity per line (ms)."""
    offsets, t = [], 0.0
    for rate, until in STEPS:
        gap = 1500 * 8 / rate * 1000
        while t < until * 1000:
            t += gap
            offsets.append(int(t))
    with open(path, "w") as f:
        f.write("\n".join(map(str, offsets)) + "\n")


def added_hold(out: list, src: list) -> float:
    """The longest a picture was held beyond its source spacing (ms): over consecutive
    pictures leaving the receiver, their gap there minus their gap leaving testsrc. Both
    probes time each picture from the same capture stamp, so gap differences are latency
    differences."""
    src_ms = dict(src)
    frames = sorted((i, ms) for i, ms in out if i in src_ms)
    return max((b_ms - a_ms - (src_ms[b] - src_ms[a])
                for (a, a_ms), (b, b_ms) in zip(frames, frames[1:])), default=0.0)


def run(work: str, playout_ms: int | None, queue: str) -> dict:
    roq, media, out, rate, own = (free_port() for _ in range(5))
    trace = os.path.join(work, "step.trace")
    write_trace(trace)
    stats = os.path.join(work, "send.jsonl")
    procs = []
    try:
        probe = Proc([*PY, "probe", "-i", f"udp://@127.0.0.1:{out}", "--json", "--per-frame",
                      "--idle", "3", "--duration", "45"], work, "probe", stdout=True)
        procs.append(probe)
        source = Proc([*PY, "probe", "-i", f"udp://@127.0.0.1:{own}", "--json", "--per-frame",
                       "--idle", "3", "--duration", "45"], work, "source", stdout=True)
        procs.append(source)
        playout = ["--playout", "--playout-min", str(playout_ms)] if playout_ms else []
        rx = Proc([*PY, "receive", "-i", f"roq://@127.0.0.1:{roq}", "-o",
                   f"udp://127.0.0.1:{out}", "--latency", "1000", "--duration", "26", *playout],
                  work, "receive")
        procs.append(rx)
        rx.wait_for("listening on")
        relay = Proc([*PY, "netsim", "--listen", "127.0.0.1:0", "--to", f"127.0.0.1:{roq}",
                      "--delay", "15ms", "--queue", queue, "--trace", trace, "--duration", "26"],
                     work, "relay")
        procs.append(relay)
        relay_port = int(relay.wait_for("relaying").split("relaying ")[1].split()[0]
                         .rsplit(":", 1)[1])
        tx = Proc([*PY, "send", "-i", f"udp://@127.0.0.1:{media}", "-o",
                   f"roq://127.0.0.1:{relay_port}", "--insecure", "--latency", "1000",
                   "--rate-to", f"udp://127.0.0.1:{rate}", "--rate-max", "6M", "--rate-start",
                   "3M", "--stats-json", stats, "--stats-interval", "100", "--duration", "22"],
                  work, "send")
        procs.append(tx)
        tx.wait_for("send:")
        src = Proc([*PY, "testsrc", "-o", f"udp://127.0.0.1:{media},udp://127.0.0.1:{own}",
                    "--duration", "19",
                    "--size", "640x360", "--bitrate", "6M", "--gop", "30", "-q",
                    "--rate-from", f"udp://@127.0.0.1:{rate}"], work, "testsrc")
        procs.append(src)
        src.p.wait(60)
        tx.p.wait(60)
        rx.p.wait(60)
        report = json.loads(probe.p.communicate(timeout=60)[0])
        own_report = json.loads(source.p.communicate(timeout=60)[0])
    finally:
        for p in procs:
            p.stop()
    relay_stats = next(json.loads(line.split("netsim: ", 1)[1]) for line in
                       reversed(relay.text().splitlines()) if line.startswith("netsim: {"))
    signal = [json.loads(line) for line in open(stats)]
    rates = [(s["elapsed_s"], s["rate_signal_bps"]) for s in signal]
    fall = next(t for t, r in rates if t > 3 and r < 3e6)
    low = [r for t, r in rates if fall + 0.3 <= t <= fall + 5.5]
    back = next((t - fall for t, r in rates if t > fall + 5.5 and r > 4.8e6), None)
    video = report["video"]
    return {"source_gap": own_report["freezes"]["longest_gap_ms"],
            "added": added_hold(report["latency_by_frame"], own_report["latency_by_frame"]),
            "min": min(low), "mean": sum(low) / len(low), "back": back,
            "latency": report["latency_ms"], "gap": report["freezes"]["longest_gap_ms"],
            "missing": video["missing_frames"], "frames": video["frames"],
            "broken": broken(video), "drops": relay_stats["forward"]["queue_drops"],
            "holds": signal[-1].get("fall_holds", 0)}


def broken(video: dict) -> int:
    """Pictures not shown intact, each once. For H.264 the probe's reference chain counts
    them all — damaged ones and those predicted from a lost or damaged one — so adding
    ``damaged`` counted the damaged ones twice."""
    return max(video["reference_missing"], video["damaged"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--playout-min", type=int, default=300, help="ms; 0: only without playout")
    ap.add_argument("--queue", default="200ms", help="the relay's queue limit (waiting time)")
    ap.add_argument("--playout-only", action="store_true",
                    help="only the runs with the receiver's playout")
    args = ap.parse_args()
    modes = [None] + ([args.playout_min] if args.playout_min else [])
    if args.playout_only and args.playout_min:
        modes = [args.playout_min]
    print(f"{'receiver':22} {'signal min/mean (2.5 phase)':>28} {'back >4.8':>9} "
          f"{'latency p50/p99/max ms':>24} {'longest gap':>11} {'source':>8} {'added':>8} "
          f"{'missing':>7} {'broken':>6} {'queue drops':>11} {'holds':>5}", flush=True)
    for _ in range(args.runs):
        for playout in modes:
            with tempfile.TemporaryDirectory() as work:
                r = run(work, playout, args.queue)
            lat = r["latency"]
            label = f"playout, min {playout} ms" if playout else "as packets come"
            back = f"+{r['back']:.1f} s" if r["back"] is not None else "never"
            print(f"{label:22} {r['min'] / 1e6:13.2f} / {r['mean'] / 1e6:4.2f} Mbit/s "
                  f"{back:>9} {lat['p50']:8.0f} / {lat['p99']:4.0f} / {lat['max']:4.0f} "
                  f"{r['gap']:8.1f} ms {r['source_gap']:5.1f} ms {r['added']:5.1f} ms "
                  f"{r['missing']:7d} {r['broken']:6d} {r['drops']:11d} {r['holds']:5d}",
                  flush=True)


if __name__ == "__main__":
    main()
