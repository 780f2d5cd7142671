"""LDMP-style expected-arrival-time switching: each path's arrival is an interval (predicted
arrival ± its RTT variation). While the fastest path's interval ends before any other
begins, it carries everything alone; once intervals overlap, traffic spreads over the
overlapping paths by earliest expected arrival, and a packet the fastest cannot deliver by
its deadline goes where it can."""

from __future__ import annotations

from strata_roq.sched.base import Decision, Scheduler


class LdmpScheduler(Scheduler):
    name = "ldmp"

    def choose(self, packet, paths, queued, now, ahead=None) -> Decision:
        ranked = self.earliest(packet, paths, queued, now)
        if not ranked:
            return Decision([], "no-path")
        first_t, first = ranked[0]
        if len(ranked) == 1:
            return Decision([first.index])
        upper = first_t + 2 * first.rttvar
        overlapping = [(t, p) for t, p in ranked[1:] if t - 2 * p.rttvar <= upper]
        if not overlapping:
            return Decision([first.index], "fast-path")
        # Spread: the earliest arrival among overlapping paths that meets the deadline.
        for t, p in [ranked[0], *overlapping]:
            if t <= packet.deadline:
                return Decision([p.index], "spread")
        return Decision([first.index], "spread")
