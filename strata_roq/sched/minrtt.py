"""Lowest smoothed RTT first (Linux MPTCP's default), moving on to the next path once the
fast one already holds more than ``max_queue`` seconds of assigned data."""

from __future__ import annotations

from strata_roq.sched.base import Decision, Scheduler


class MinRttScheduler(Scheduler):
    name = "minrtt"

    def __init__(self, max_queue: float = 0.05) -> None:
        self.max_queue = max_queue

    def choose(self, packet, paths, queued, now, ahead=None) -> Decision:
        live = sorted(self.alive(paths), key=lambda p: p.srtt if p.srtt is not None else 1.0)
        if not live:
            return Decision([], "no-path")
        for p in live:
            if queued[p.index] / p.rate() <= self.max_queue:
                return Decision([p.index])
        return Decision([live[0].index])
