"""Deficit (smooth) weighted round-robin over live paths, weights = delivery rate: the
classic baseline that shares load by capacity and ignores delay and deadlines."""

from __future__ import annotations

from strata_roq.sched.base import Decision, Scheduler


class DwrrScheduler(Scheduler):
    name = "dwrr"

    def __init__(self) -> None:
        self._credit: dict[int, float] = {}

    def choose(self, packet, paths, queued, now, ahead=None) -> Decision:
        live = self.alive(paths)
        if not live:
            return Decision([], "no-path")
        total = sum(p.rate() for p in live)
        for p in live:
            self._credit[p.index] = self._credit.get(p.index, 0.0) + p.rate() / total
        best = max(live, key=lambda p: self._credit[p.index])
        self._credit[best.index] -= 1.0
        return Decision([best.index])
