"""Speedify-style: duplicate on every live path only while some path is lossy (> 1 %) or
jittery (RTT variation > 20 ms); otherwise the path that delivers soonest."""

from __future__ import annotations

from strata_roq.sched.base import Decision, Scheduler


class DynamicScheduler(Scheduler):
    name = "dynamic"

    def __init__(self, loss: float = 0.01, jitter: float = 0.020) -> None:
        self.loss = loss
        self.jitter = jitter

    def choose(self, packet, paths, queued, now, ahead=None) -> Decision:
        live = self.alive(paths)
        if not live:
            return Decision([], "no-path")
        if any(p.loss.rate > self.loss or p.rttvar > self.jitter for p in live):
            return Decision([p.index for p in live], "duplicate")
        return Decision([self.earliest(packet, live, queued, now)[0][1].index])
