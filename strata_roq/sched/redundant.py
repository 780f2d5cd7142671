"""Every packet on every live path: the reliability ceiling, at N× the bytes."""

from __future__ import annotations

from strata_roq.sched.base import Decision, Scheduler


class RedundantScheduler(Scheduler):
    name = "redundant"

    def choose(self, packet, paths, queued, now, ahead=None) -> Decision:
        return Decision([p.index for p in self.alive(paths)], "redundant")
