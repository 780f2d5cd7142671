"""BBR-style model-based control with a *fixed* queue headroom (BBR-RT).

The model: bottleneck bandwidth = windowed maximum of the delivery rate (over ~2 s; a sample
taken while the sender had nothing more to send may raise it, never lower it), base RTT =
windowed minimum (10 s); the queue = one-way delay above its 10-s minimum. Pacing =
bandwidth × gain, where the gain cycles gently — one RTT at 1.1 (probe for more), one at 0.9
(drain what the probe queued), six at 1.0. The in-flight cap is what separates it from
classic BBR: bandwidth × (base RTT + ``headroom``), a few milliseconds of queue at most
(default 7.5 ms), not a multiple of the base RTT — on a 100 ms path BBR's 2×BDP cap (a
target of ~0.95 × base RTT of queue) lets a standing queue of ~95 ms form, which a live
stream pays for in latency. ``headroom=None`` is that classic cap (the "bbr-like" baseline).
A queue that stands above the headroom for a whole cycle drains at once (gain 0.75 for an
RTT). And when capacity falls (a cell handover, 12 → 4 Mbit/s), the max filter would keep
the old bandwidth for its whole window: a queue above twice the headroom while the
bottleneck delivers under 80 % of the estimate resets the model to the delivery rate
measured over the last 25 ms of acknowledgements, so the estimate — and the encoder's rate
signal — drops about one RTT after the fall.
"""

from __future__ import annotations

from collections import deque

from strata_roq.cc.base import RateController, WindowedMax, WindowedMin

GAINS = (1.1, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
FAST_WINDOW = 0.025          # s of acknowledgements that show a capacity fall


class BbrController(RateController):
    def __init__(self, headroom: float | None = 0.0075, initial_rate: float = 125_000.0,
                 mss: int = 1400, bw_window: float = 2.0, rtt_window: float = 10.0) -> None:
        super().__init__(initial_rate, mss)
        self.name = "bbr-rt" if headroom is not None else "bbr-like"
        self.headroom = headroom
        self._bw = WindowedMax(bw_window)
        self._rtt = WindowedMin(rtt_window)
        self._owd = WindowedMin(rtt_window)
        self._delivered = 0
        self._delivered_at: float | None = None
        self._samples: list[tuple[float, int]] = []     # (ack time, delivered) ring
        self._phase = 0
        self._phase_start = 0.0
        self._startup = True
        self._full_bw = 0.0
        self._full_bw_count = 0
        self.bandwidth = initial_rate
        self.min_rtt = float("inf")
        self.queue_delay = 0.0
        self._queue_high_since: float | None = None
        self._fall_since: float | None = None
        self.delivery_rate = 0.0
        self.fast_rate = 0.0
        self._recent: deque[tuple[float, int]] = deque()
        self.resets = 0                  # times a capacity fall reset the model

    def on_ack(self, size: int, sent_at: float, received_at: float, now: float,
               app_limited: bool = False) -> None:
        super().on_ack(size, sent_at, received_at, now)
        rtt = now - sent_at
        self.min_rtt = self._rtt.update(now, rtt)
        # Queueing from one-way delays (send → the receiver's arrival, against their 10-s
        # minimum): acknowledgements that wait for the receiver's next feedback report, or
        # a slow reverse path, add to the RTT but are no queue at this path's bottleneck.
        owd = received_at - sent_at
        self.queue_delay = max(0.0, owd - self._owd.update(now, owd))
        # Delivery rate on the receiver's clock (its arrival times): acknowledgements come in
        # batches (feedback reports), arrivals do not; the clock offset cancels in differences.
        at = received_at
        self._delivered += size
        samples = self._samples
        samples.append((at, self._delivered))
        horizon = max(self.min_rtt, 0.02)
        while len(samples) > 2 and at - samples[1][0] >= horizon:
            samples.pop(0)
        t0, d0 = samples[0]
        if at - t0 >= min(horizon, 0.01):
            self.delivery_rate = (self._delivered - d0) / (at - t0)
            # An application-limited sample shows what was offered, not what the path could
            # carry: it may raise the model, never lower it (BBR's rule).
            if not app_limited or self.delivery_rate > self.bandwidth:
                self.bandwidth = self._bw.update(now, self.delivery_rate)
        # the last ~25 ms of arrivals: the bottleneck's rate right now
        recent = self._recent
        recent.append((at, self._delivered))
        while len(recent) > 2 and at - recent[1][0] >= FAST_WINDOW:
            recent.popleft()
        if at - recent[0][0] >= FAST_WINDOW / 2:
            self.fast_rate = (self._delivered - recent[0][1]) / (at - recent[0][0])
        self._check_fall(now)
        self._advance(now)
        self._set_outputs()

    def _check_fall(self, now: float) -> None:
        if self.headroom is None or self._startup or not self.fast_rate:
            return
        if self.queue_delay > max(2 * self.headroom, 0.010):
            if self._fall_since is None:
                self._fall_since = now
            elif now - self._fall_since >= FAST_WINDOW and \
                    self.fast_rate < 0.8 * self.bandwidth:
                self._bw = WindowedMax(self._bw.window)
                self.bandwidth = self._bw.update(now, self.fast_rate)
                self._samples = [(self._samples[-1][0], self._delivered)]   # nor pre-fall ones
                self._fall_since = None
                self.resets += 1
        else:
            self._fall_since = None

    def _advance(self, now: float) -> None:
        rtt = self.min_rtt if self.min_rtt != float("inf") else 0.1
        if self._startup:
            # exponential growth until the bandwidth stops growing 25 % per round, 3 rounds
            if now - self._phase_start >= rtt:
                self._phase_start = now
                if self.bandwidth > self._full_bw * 1.25:
                    self._full_bw, self._full_bw_count = self.bandwidth, 0
                else:
                    self._full_bw_count += 1
                    if self._full_bw_count >= 3:
                        self._startup = False
                        self._phase = 1                 # drain what startup queued
            return
        if now - self._phase_start >= rtt:
            self._phase_start = now
            self._phase = (self._phase + 1) % len(GAINS)
            limit = self.headroom if self.headroom is not None else 0.95 * rtt
            if self.queue_delay > limit:
                if self._queue_high_since is None:
                    self._queue_high_since = now
            else:
                self._queue_high_since = None

    def _gain(self, now: float) -> float:
        if self._startup:
            return 2.0
        rtt = self.min_rtt if self.min_rtt != float("inf") else 0.1
        if self._queue_high_since is not None and now - self._queue_high_since > len(GAINS) * rtt:
            return 0.75
        return GAINS[self._phase]

    def _set_outputs(self) -> None:
        now = self._phase_start
        rtt = self.min_rtt if self.min_rtt != float("inf") else 0.1
        self.pacing_rate = max(self.bandwidth * self._gain(now), 2 * self.mss / rtt)
        if self._startup:
            self.cwnd = max(2.0 * self.bandwidth * rtt, 10 * self.mss)
        elif self.headroom is not None:
            # probing needs room for its extra 10 %, or the cap would hide new bandwidth
            probe = max(1.0, self._gain(now))
            self.cwnd = max(self.bandwidth * (rtt + self.headroom) * probe, 4 * self.mss)
        else:
            self.cwnd = max(2.0 * self.bandwidth * rtt, 4 * self.mss)
