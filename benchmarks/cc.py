"""Per-path congestion control in the simulator: link utilisation and standing queue delay
for each controller on the 12 → 4 → 12 Mbit/s capacity step (100 ms RTT) and on the shared
LTE uplink traces (40 ms RTT), plus the encoder rate signal on the step.

Utilisation = bytes delivered / bytes the bottleneck could carry (after a 5 s warm-up);
queue = per-packet queueing delay at the bottleneck (arrival − send − propagation).

    .venv/bin/python benchmarks/cc.py [--duration 60]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from strata_roq.cc import CONTROLLERS, make_controller  # noqa: E402
from strata_roq.cc.rate_signal import RateSignal  # noqa: E402
from strata_roq.cc.encoder_rate import EncoderRate  # noqa: E402
from strata_roq.cc.coupled import CoupledGroup, CoupledVegas  # noqa: E402
from strata_roq.netsim.ccsim import run, run_encoder_loop, run_flows  # noqa: E402
from strata_roq.netsim.scenarios import _traces_dir  # noqa: E402
from strata_roq.netsim.synthetic import trace_from_rates  # noqa: E402
from strata_roq.netsim.trace import read_mahimahi  # noqa: E402

TRACES = ("ATT-LTE-driving-2016.up", "Verizon-LTE-short.up", "TMobile-LTE-short.up")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0)
    args = ap.parse_args()
    d = args.duration
    cases = [("step 12→4→12 Mbit/s, 100 ms RTT",
              trace_from_rates([(0, 12e6), (d / 3, 4e6), (2 * d / 3, 12e6)], d), 0.05)]
    for name in TRACES:
        cases.append((f"{name}, 40 ms RTT",
                      read_mahimahi(os.path.join(_traces_dir(), "mahimahi", name)), 0.02))
    print(f"{'link':40} {'controller':10} {'utilisation':>11} {'queue p50':>9} {'queue p95':>9}")
    for label, trace, delay in cases:
        for name in CONTROLLERS:
            r = run(make_controller(name), delay=delay, trace=trace, duration=d)
            print(f"{label:40} {name:10} {r['utilisation']:11.1%} {r['queue_p50_ms']:7.1f} ms "
                  f"{r['queue_p95_ms']:6.1f} ms", flush=True)
    coupling(d)
    # the rate signal an encoder would be given, from BBR-RT on the step
    trace, delay = cases[0][1], cases[0][2]
    signal, out = RateSignal(), []
    run(make_controller("bbr-rt"), delay=delay, trace=trace, duration=d,
        on_tick=lambda now, c: out.append((now, signal.update(c.bandwidth * 8))))
    fall = next(t for t, s in out if t >= d / 3 and s <= 4e6) - d / 3
    print(f"\nrate signal (bbr-rt): below the new 4 Mbit/s {fall * 1000:.0f} ms after the fall; "
          f"changes signalled: {signal.changes}")
    for a, b, what in ((d / 6, d / 3, "12 Mbit/s"), (d / 2, 2 * d / 3, "4 Mbit/s"),
                       (5 * d / 6, d, "12 Mbit/s again")):
        v = [s for t, s in out if a <= t < b]
        mid = (max(v) + min(v)) / 2
        print(f"  steady at {what:16} {min(v) / 1e6:5.2f}–{max(v) / 1e6:5.2f} Mbit/s "
              f"(±{(max(v) - min(v)) / 2 / mid:.1%})")

    # the closed loop a live encoder is in: its rate follows the signal (EncoderRate, fed by
    # CCFB-style arrivals), through the same step at 30 ms RTT
    loop = run_encoder_loop(EncoderRate(6e6, max_bps=20e6), delay=0.015, trace=trace,
                            duration=d)
    sig = loop["signal"]
    fall = next(t for t, s in sig if t >= d / 3 and s * 1.08 <= 4e6) - d / 3
    print(f"\nencoder in the loop (EncoderRate, 30 ms RTT): drops "
          f"{first_drop(sig, d / 3) * 1000:.0f} ms after the fall, fits the new 4 Mbit/s "
          f"(with the media's 8 % on top) {fall * 1000:.0f} ms after it; "
          f"pictures lost {loop['lost_pictures']}")
    for a, b, what in ((d / 6, d / 3, "12 Mbit/s"), (d / 2, 2 * d / 3, "4 Mbit/s"),
                       (5 * d / 6, d, "12 Mbit/s again")):
        v = [s for t, s in sig if a <= t < b]
        lat = sorted(lat for t, lat in loop["pictures"] if a <= t < b)
        mid = (max(v) + min(v)) / 2
        print(f"  at {what:16} signal {min(v) / 1e6:5.2f}–{max(v) / 1e6:5.2f} Mbit/s "
              f"(±{(max(v) - min(v)) / 2 / mid:.1%}), picture delivery p95 "
              f"{lat[int(0.95 * len(lat))] * 1000:.0f} ms")


def first_drop(signal: list[tuple[float, float]], fall: float, by: float = 0.03) -> float:
    """How long after ``fall`` the signal first drops (by more than ``by`` of its value at
    the fall: the issue's "drops within 200 ms"), in seconds."""
    before = [s for t, s in signal if t <= fall][-1]
    return next(t for t, s in signal if t >= fall and s < before * (1 - by)) - fall


def coupling(d: float) -> None:
    """Two paths of one sender, coupled (wVegas) or not, against an ordinary flow."""
    print(f"\n{'two paths of one sender (vegas)':50} {'pair':>6} {'other':>6} {'util':>6} "
          f"{'queue p50 / p95':>16}")

    def pair(coupled: bool) -> list:
        group = CoupledGroup() if coupled else None
        return [CoupledVegas(group), CoupledVegas(group)]

    cases = [("shared 12 Mbit/s with one other flow", True, [0.02] * 3, 12e6, 1),
             ("shared 12 Mbit/s, alone", True, [0.02, 0.03], 12e6, 0),
             ("separate 6 Mbit/s links", False, [0.02, 0.04], 6e6, 0)]
    for label, shared, delays, rate, others in cases:
        for coupled in (False, True):
            flows = pair(coupled) + [CoupledVegas() for _ in range(others)]
            r = run_flows(flows, delays=delays, rate=rate, shared=shared, duration=d)
            thr = r["throughput"]
            other = f"{thr[2] / 1e6:6.2f}" if others else f"{'':6}"
            print(f"{label + (' — coupled' if coupled else ' — uncoupled'):50} "
                  f"{(thr[0] + thr[1]) / 1e6:6.2f} {other} {r['utilisation']:6.1%} "
                  f"{r['queue_p50_ms']:6.1f} / {r['queue_p95_ms']:5.1f} ms", flush=True)


if __name__ == "__main__":
    main()
