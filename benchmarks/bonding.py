"""Bonding: every scheduler on every scenario, in the virtual-time simulator.

Per scenario × scheduler: on-time frame ratio (video frames complete before their deadline
/ frames sent), key-frame on-time ratio, decodable ratio (on time, and so is every frame it
depends on back to its key frame: what a viewer sees intact), latency p50/p99 (capture to
last packet), stalls (runs of two or more late video frames), late (video frames not
complete by their deadline, summed over the seeds: a ratio rounded to 0.01 % hides a frame or
two), overhead (bytes on the wire / media bytes), and queue p95 (how far each packet's one-way delay stood above its
path's lowest: the queues the sender built). ``--cc`` also varies what paces each path: the
paths' delivery-rate model alone (``delivery``, the default) or capped by a congestion
controller of ``strata_roq.cc``.
Deterministic for a seed. The same scenarios over real sockets, with librist's and
GStreamer's bonding alongside, are ``benchmarks/bonding_real.py``.

    .venv/bin/python benchmarks/bonding.py [--scenarios a,b] [--schedulers x,y] [--duration S]
        [--bitrate 10e6] [--seeds 1,2,3,4] [--cc delivery,bbr-rt,gradient,vegas]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from strata_roq.netsim.scenarios import SCENARIOS, make_scenario  # noqa: E402
from strata_roq.netsim.sim import simulate  # noqa: E402
from strata_roq.cc import BONDED_CC  # noqa: E402
from strata_roq.sched import SCHEDULERS  # noqa: E402

DURATIONS = {"starlink-att-verizon": 120.0}


def one(job: tuple[str, str, str, float | None, float | None, int | None]) -> dict:
    name, scheduler, cc, duration, bitrate, seed = job
    scenario = make_scenario(name, duration or DURATIONS.get(name, 60.0))
    changes = {k: v for k, v in (("bitrate", bitrate), ("seed", seed)) if v is not None}
    return simulate(dataclasses.replace(scenario, **changes), scheduler, cc=cc)


def _mean(results: list[dict]) -> dict:
    """One row for the runs of a scenario × scheduler over several seeds: the means."""
    out = dict(results[0])
    for key in ("on_time", "key_on_time", "decodable", "latency_p50_ms", "latency_p99_ms",
                "queue_p95_ms", "overhead"):
        out[key] = sum(r[key] for r in results) / len(results)
    out["stalls"] = round(sum(r["stalls"] for r in results) / len(results))
    out["late"] = sum(late_frames(r) for r in results)
    return out


def late_frames(result: dict) -> int:
    """Video frames of one run not complete by their deadline."""
    return round(result["frames"] * (1 - result["on_time"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--schedulers", default=",".join(SCHEDULERS))
    ap.add_argument("--duration", type=float, default=None, help="override every scenario's")
    ap.add_argument("--bitrate", type=float, default=None,
                    help="override every scenario's media rate (bit/s), e.g. 10e6")
    ap.add_argument("--seeds", default=None,
                    help="comma-separated seeds: each row is the mean over them")
    ap.add_argument("--cc", default="delivery",
                    help=f"comma-separated path pacing models: {', '.join(BONDED_CC)}")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    ccs = args.cc.split(",")
    for cc in ccs:
        if cc not in BONDED_CC:
            ap.error(f"--cc: unknown {cc!r} (one of {', '.join(BONDED_CC)})")
    try:
        seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [None]
    except ValueError:
        ap.error(f"--seeds: not a list of integers: {args.seeds!r}")
    cells = [(sc, sch, cc) for sc in args.scenarios.split(",")
             for sch in args.schedulers.split(",") for cc in ccs]
    jobs = [(sc, sch, cc, args.duration, args.bitrate, seed) for sc, sch, cc in cells
            for seed in seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(one, jobs))
    results = [_mean(runs[i * len(seeds):(i + 1) * len(seeds)]) for i in range(len(cells))]
    if args.bitrate or args.seeds:
        print(f"(media rate {args.bitrate or 'per scenario'}, seeds {args.seeds or 'default'}"
              f"{': means over the seeds' if len(seeds) > 1 else ''})")
    print(f"{'scenario':22} {'scheduler':10} {'cc':9} {'on-time':>8} {'key':>7} {'decodable':>9} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'stalls':>6} {'late':>5} {'queue p95':>9} {'overhead':>8}")
    for r in results:
        print(f"{r['scenario']:22} {r['scheduler']:10} {r['cc']:9} {r['on_time']:8.2%} "
              f"{r['key_on_time']:7.1%} {r['decodable']:9.1%} "
              f"{r['latency_p50_ms']:7.0f} {r['latency_p99_ms']:7.0f} {r['stalls']:6d} "
              f"{r['late']:5d} {r['queue_p95_ms']:9.0f} {r['overhead']:8.2f}")


if __name__ == "__main__":
    main()
