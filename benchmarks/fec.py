"""FEC: ARQ only vs static 20 % vs adaptive vs adaptive + UEP vs cross-path XOR, in the
virtual-time simulator.

Channels: a Gilbert-Elliott grid (loss 1/5/10 %, mean bursts 1/3/10) on two setups —
``ge-trio`` (three cellular paths, 150 ms budget: one retransmission at best) and
``sat-cell`` (two cellular paths beside a 600 ms-RTT satellite, 500 ms budget: nothing sent
on the satellite can be retransmitted in time) — and the shared traces (``lte-trio``,
``starlink-att-verizon``, ``leo-handover``, ``failover``). Per run: residual packet loss
(media packets not there by their deadline), residual frame loss (frames never complete),
key frames lost (not complete by their deadline), on-time ratio, overhead (bytes on the wire
/ media bytes) and packets rebuilt by FEC. Then the two checks the FEC issue asks for:

- wherever static 20 % reaches the residual target (10⁻⁴), adaptive must reach it too, with
  less overhead;
- UEP must lose fewer key frames than equal (adaptive) protection at about the same overhead
  (summed over every channel, so a handful of key frames per run is not all there is).

    .venv/bin/python benchmarks/fec.py [--duration 60] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from strata_roq.netsim.scenarios import ge_trio, make_scenario, sat_cell  # noqa: E402
from strata_roq.netsim.sim import simulate  # noqa: E402

MODES = ("off", "static", "adaptive", "uep", "xor")
LABELS = {"off": "ARQ only", "static": "static 20%", "adaptive": "adaptive",
          "uep": "adaptive+UEP", "xor": "cross-path XOR"}
TARGET = 1e-4
TRACES = ("lte-trio", "starlink-att-verizon", "leo-handover", "failover")


def one(job):
    family, loss, burst, mode, duration = job
    if family == "ge-trio":
        scenario = ge_trio(duration, loss, burst)
    elif family == "sat-cell":
        scenario = sat_cell(duration, loss, burst)
    else:
        scenario = make_scenario(family, duration)
    r = simulate(scenario, "storm", fec=mode, fec_target=TARGET)
    r["mode"] = mode
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--quick", action="store_true", help="one setup, 3 channels, no traces")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    grid = [(l, b) for l in (0.01, 0.05, 0.10) for b in (1, 3, 10)]
    families = ["ge-trio", "sat-cell"]
    if args.quick:
        grid, families = [(0.01, 1), (0.05, 3), (0.10, 10)], ["ge-trio"]
    jobs = [(f, l, b, m, args.duration) for f in families for l, b in grid for m in MODES]
    if not args.quick:
        jobs += [(t, None, None, m, args.duration) for t in TRACES for m in MODES]
    start = time.monotonic()
    results = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for n, r in enumerate(pool.map(one, jobs), 1):
            results.append(r)
            print(f"\r{n}/{len(jobs)} runs ({time.monotonic() - start:.0f} s)", end="",
                  file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(f"{'scenario':24} {'mode':15} {'resid pkt':>10} {'frame loss':>10} {'key lost':>8} "
          f"{'on-time':>8} {'overhead':>8} {'rebuilt':>8}")
    rows: dict[str, dict[str, dict]] = {}
    for r in results:
        rows.setdefault(r["scenario"], {})[r["mode"]] = r
        keys = round(r["frames"] / 60)          # a key frame every 60 frames
        key_lost = round((1 - r["key_on_time"]) * keys)
        r["key_lost"] = key_lost
        rebuilt = r["fec"]["recovered"] if r["fec"] else 0
        print(f"{r['scenario']:24} {LABELS[r['mode']]:15} {r['residual_loss']:10.2e} "
              f"{r['frame_loss']:10.2%} {key_lost:4d}/{keys:<3d} {r['on_time']:8.2%} "
              f"{r['overhead']:8.2f} {rebuilt:8d}")
    print()
    checked = held = 0
    for name, by in rows.items():
        st, ad = by["static"], by["adaptive"]
        if st["residual_loss"] <= TARGET:
            checked += 1
            ok = ad["residual_loss"] <= TARGET and ad["overhead"] < st["overhead"]
            held += ok
            print(f"{name}: static reaches {TARGET:g} at {st['overhead']:.2f}x; adaptive "
                  f"{ad['residual_loss']:.1e} at {ad['overhead']:.2f}x -> {'ok' if ok else 'NOT MET'}")
    print(f"adaptive vs static where static reaches the target: {held}/{checked} rows hold")
    eq_keys = sum(by["adaptive"]["key_lost"] for by in rows.values())
    uep_keys = sum(by["uep"]["key_lost"] for by in rows.values())
    eq_ovh = sum(by["adaptive"]["overhead"] for by in rows.values()) / len(rows)
    uep_ovh = sum(by["uep"]["overhead"] for by in rows.values()) / len(rows)
    print(f"key frames lost over all rows: equal protection {eq_keys} at {eq_ovh:.3f}x mean "
          f"overhead, UEP {uep_keys} at {uep_ovh:.3f}x -> "
          f"{'UEP loses fewer' if uep_keys < eq_keys else 'UEP does NOT lose fewer'}")


if __name__ == "__main__":
    main()
