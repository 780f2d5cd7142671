"""A one-way-delay-gradient controller (Copa/GCC family) fed by send *and* receive
timestamps: queueing is the one-way delay above its recent minimum, so delay on the
reverse path (where the acknowledgements travel) does not count, and the two clocks' offset
cancels in the difference.

Once per round trip, judged on the *lowest* queueing delay of the round (what stands, not
the jitter of a cellular scheduler's bursts): while it stays under ``target`` (10 ms) and
is not growing by more than half the target, the rate grows 8 %; when it stands above
target or grows fast, the rate is cut to the delivery rate measured × 0.9 (drain), never
below a floor. Pacing = the rate; in-flight cap = rate × (RTT + 2 × target).
"""

from __future__ import annotations

from strata_roq.cc.base import RoundController


class GradientController(RoundController):
    name = "gradient"

    def __init__(self, target: float = 0.010, initial_rate: float = 125_000.0,
                 mss: int = 1400, min_rate: float = 25_000.0, min_round: float = 0.01) -> None:
        super().__init__(initial_rate, mss, min_round)
        self.target = target
        self.min_rate = min_rate
        self._last_round_queue = 0.0
        self.standing_queue = 0.0                 # the last round's lowest queueing delay

    def _end_round(self, queue: float, rtt_min: float) -> None:
        growth = queue - self._last_round_queue
        if queue > self.target or growth > self.target / 2:
            self.pacing_rate = max(self.min_rate, min(self.pacing_rate,
                                                      0.9 * self.delivery_rate))
        else:
            self.pacing_rate *= 1.08
        self._last_round_queue = self.standing_queue = queue
        self.cwnd = max(self.pacing_rate * (rtt_min + 2 * self.target), 4 * self.mss)
