"""Bonding: every scheduler on every scenario, in the virtual-time simulator.

Per scenario × scheduler: on-time frame ratio (video frames complete before their deadline
/ frames sent), key-frame on-time ratio, latency p50/p99 (capture to last packet), stalls
(runs of two or more late video frames), and overhead (bytes on the wire / media bytes).
Deterministic for a seed. The same scenarios over real sockets, with librist's and
GStreamer's bonding alongside, are ``benchmarks/bonding_real.py``.

    .venv/bin/python benchmarks/bonding.py [--scenarios a,b] [--schedulers x,y] [--duration S]
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from strata_roq.netsim.scenarios import SCENARIOS, make_scenario  # noqa: E402
from strata_roq.netsim.sim import simulate  # noqa: E402
from strata_roq.sched import SCHEDULERS  # noqa: E402

DURATIONS = {"starlink-att-verizon": 120.0}


def one(job: tuple[str, str, float | None]) -> dict:
    scenario, scheduler, duration = job
    return simulate(make_scenario(scenario, duration or DURATIONS.get(scenario, 60.0)), scheduler)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--schedulers", default=",".join(SCHEDULERS))
    ap.add_argument("--duration", type=float, default=None, help="override every scenario's")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    jobs = [(sc, sch, args.duration) for sc in args.scenarios.split(",")
            for sch in args.schedulers.split(",")]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(one, jobs))
    print(f"{'scenario':22} {'scheduler':10} {'on-time':>8} {'key':>7} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'stalls':>6} {'overhead':>8}")
    for r in results:
        print(f"{r['scenario']:22} {r['scheduler']:10} {r['on_time']:8.2%} {r['key_on_time']:7.1%} "
              f"{r['latency_p50_ms']:7.0f} {r['latency_p99_ms']:7.0f} {r['stalls']:6d} "
              f"{r['overhead']:8.2f}")


if __name__ == "__main__":
    main()
