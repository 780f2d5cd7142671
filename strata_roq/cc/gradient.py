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

from strata_roq.cc.base import RateController, WindowedMin


class GradientController(RateController):
    name = "gradient"

    def __init__(self, target: float = 0.010, initial_rate: float = 125_000.0,
                 mss: int = 1400, min_rate: float = 25_000.0) -> None:
        super().__init__(initial_rate, mss)
        self.target = target
        self.min_rate = min_rate
        self._owd = WindowedMin(10.0)
        self._rtt = WindowedMin(10.0)
        self._round_start: float | None = None
        self._round_queue = float("inf")          # lowest queue seen this round
        self._last_round_queue = 0.0
        self._round_bytes = 0
        self.queue_delay = 0.0
        self.standing_queue = 0.0                 # the last round's lowest queueing delay
        self.delivery_rate = 0.0

    def on_ack(self, size: int, sent_at: float, received_at: float, now: float) -> None:
        super().on_ack(size, sent_at, received_at, now)
        owd = received_at - sent_at
        base = self._owd.update(now, owd)
        rtt_min = self._rtt.update(now, now - sent_at)
        self.queue_delay = owd - base
        self._round_queue = min(self._round_queue, self.queue_delay)
        self._round_bytes += size
        if self._round_start is None:
            self._round_start = now
            return
        elapsed = now - self._round_start
        if elapsed < max(rtt_min, 0.01):
            return
        self.delivery_rate = self._round_bytes / elapsed
        queue, growth = self._round_queue, self._round_queue - self._last_round_queue
        if queue > self.target or growth > self.target / 2:
            self.pacing_rate = max(self.min_rate, min(self.pacing_rate,
                                                      0.9 * self.delivery_rate))
        else:
            self.pacing_rate *= 1.08
        self._last_round_queue = self.standing_queue = queue
        self._round_start, self._round_queue, self._round_bytes = now, float("inf"), 0
        self.cwnd = max(self.pacing_rate * (rtt_min + 2 * self.target), 4 * self.mss)
