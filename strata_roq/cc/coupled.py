"""Coupled delay-based control for the paths of one bonded sender (wVegas-style).

Two modems on the same cell, or a Wi-Fi and a wired uplink behind one DSL line, share a
bottleneck. Controlled separately, each path keeps its own standing queue there and the
bonded sender takes one share per path from everyone else on that link — and two of its own
paths fight each other. Coupled, the paths split one flow's queue target between them.

Vegas's rule, per round trip: ``backlog = rate × (one-way delay − its minimum)`` is what
this path keeps queued at its bottleneck; below ``alpha`` the rate grows one packet per
round trip, above ``beta`` it shrinks one, between it holds (well above — a queue several
times the target — it drops to 0.9 × the delivery rate, as the gradient controller does).
wVegas couples the paths by giving each a share of one flow's targets in proportion to its
rate: ``alpha_i = alpha × rate_i / Σ rate``. On a shared bottleneck the group then queues
what one flow would, and so takes one flow's share; on separate bottlenecks each path still
fills its own link (a small ``alpha_i`` only means a short queue there), and a path whose
queue grows sheds its rate to the others. Before the first queue is seen a path doubles its
rate every round trip (slow start).

Delays come from send times and the receiver's arrival times (CCFB), so the reverse path
does not count and the two clocks' offset cancels. Sans-I/O, like every controller here.
"""

from __future__ import annotations

from strata_roq.cc.base import RoundController


class CoupledGroup:
    """The paths of one sender that share one flow's queue target."""

    def __init__(self) -> None:
        self.members: list[CoupledVegas] = []

    def weight(self, member: "CoupledVegas") -> float:
        total = sum(m.pacing_rate for m in self.members)
        return member.pacing_rate / total if total > 0 else 1.0


class CoupledVegas(RoundController):
    name = "vegas"

    def __init__(self, group: CoupledGroup | None = None, alpha_packets: float = 6.0,
                 beta_packets: float = 10.0, initial_rate: float = 125_000.0,
                 mss: int = 1400, min_rate: float = 25_000.0) -> None:
        super().__init__(initial_rate, mss)
        self.group = group
        if group is not None:
            group.members.append(self)
        self.alpha = alpha_packets * mss        # bytes queued: one flow's targets
        self.beta = beta_packets * mss
        self.min_rate = min_rate
        self.slow_start = True
        self.backlog = 0.0                      # bytes this path keeps queued (last round)

    def share(self) -> float:
        """This path's part of the group's targets (1 when uncoupled)."""
        return self.group.weight(self) if self.group is not None else 1.0

    def _end_round(self, queue: float, rtt_min: float) -> None:
        self.backlog = self.pacing_rate * queue
        share = self.share()
        alpha, beta = self.alpha * share, self.beta * share
        step = self.mss / max(rtt_min, 0.01)               # one packet per round trip
        if self.slow_start:
            if self.backlog < alpha:
                self.pacing_rate *= 2.0
            else:
                self.slow_start = False
                self.pacing_rate = max(self.min_rate, 0.9 * self.delivery_rate)
        elif self.backlog > 4 * beta:                      # far over: drain at once
            self.pacing_rate = max(self.min_rate, min(self.pacing_rate,
                                                      0.9 * self.delivery_rate))
        elif self.backlog < alpha:
            self.pacing_rate += step
        elif self.backlog > beta:
            self.pacing_rate = max(self.min_rate, self.pacing_rate - step)
        self.cwnd = max(self.pacing_rate * rtt_min * 2 + beta, 4 * self.mss)

    def on_loss(self, size: int, now: float) -> None:
        super().on_loss(size, now)
        self.slow_start = False
