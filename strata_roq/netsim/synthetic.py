"""Synthetic capacity traces, for when no recorded one is at hand (the demo must run on a
fresh machine): a seeded random walk of the rate, written in mahimahi's format (one line
per 1500-byte delivery opportunity, in ms)."""

from __future__ import annotations

import random

MTU = 1500


def random_walk_rates(duration: float, low: float, high: float, step: float = 0.1,
                      seed: int = 1) -> list[float]:
    """One rate (bit/s) per ``step`` seconds, wandering between ``low`` and ``high`` with
    now and then a deep fade (a cell edge) — what an LTE uplink looks like from a van."""
    rng = random.Random(seed)
    rate, out = (low + high) / 2, []
    fade = 0
    for _ in range(int(duration / step)):
        rate = min(high, max(low, rate * rng.uniform(0.9, 1.1)))
        if fade == 0 and rng.random() < 0.004:
            fade = int(rng.uniform(0.5, 1.5) / step)       # 0.5–1.5 s down to the floor
        out.append(low / 2 if fade else rate)
        fade = max(0, fade - 1)
    return out


def write_mahimahi(rates: list[float], path: str, step: float = 0.1) -> None:
    """Delivery opportunities for ``rates`` (bit/s per ``step``), spread evenly."""
    lines, credit = [], 0.0
    for k, rate in enumerate(rates):
        start = k * step * 1000
        per_ms = rate / 8 / MTU / 1000
        for ms in range(int(step * 1000)):
            credit += per_ms
            while credit >= 1.0:
                lines.append(str(int(start + ms) + 1))
                credit -= 1.0
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")


def trace_from_rates(steps: list[tuple[float, float]], duration: float, name: str = "steps"):
    """A :class:`~strata_roq.netsim.trace.DeliveryTrace` for a piecewise-constant rate:
    ``steps`` = [(start time s, bit/s), ...] — e.g. the 12 → 4 → 12 Mbit/s capacity step."""
    from strata_roq.netsim.trace import DeliveryTrace

    offsets, credit = [], 0.0
    bounds = [t for t, _ in steps[1:]] + [duration]
    for (start, rate), end in zip(steps, bounds):
        per_ms = rate / 8 / MTU / 1000
        for ms in range(int(start * 1000), int(end * 1000)):
            credit += per_ms
            while credit >= 1.0:
                offsets.append(ms + 1)
                credit -= 1.0
    return DeliveryTrace(offsets, int(duration * 1000), name)
