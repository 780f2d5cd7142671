"""BLEST/ECF-style: send on the path whose predicted delivery is soonest — which means
waiting for the fast path when its queue drains before a slow path would deliver,
instead of spilling onto the slow path and blocking the receiver behind it."""

from __future__ import annotations

from strata_roq.sched.base import Decision, Scheduler


class BlestScheduler(Scheduler):
    name = "blest"

    def choose(self, packet, paths, queued, now, ahead=None) -> Decision:
        ranked = self.earliest(packet, paths, queued, now)
        if not ranked:
            return Decision([], "no-path")
        return Decision([ranked[0][1].index])
