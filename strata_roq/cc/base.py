"""What every per-path controller takes and gives, sans-I/O.

In: ``on_sent`` (bytes leaving now), ``on_ack`` (a packet's bytes, when it was sent, when
the receiver got it — on the *receiver's* clock, so only differences of one-way delays are
meaningful — and now; ``app_limited`` when the sender had nothing more to send then, so the
rate it shows is the media's, not the path's), ``on_loss``. Out: :attr:`pacing_rate`
(bytes/s the path is given) and :attr:`cwnd` (bytes allowed in flight). QUIC's own
controller still bounds the connection; this decides how much media the path is offered, so
it never has to build a queue.
"""

from __future__ import annotations

from collections import deque


class WindowedMax:
    """Maximum of (time, value) samples over the last ``window`` seconds, O(1) amortised."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._q: deque[tuple[float, float]] = deque()

    def update(self, now: float, value: float) -> float:
        q = self._q
        while q and q[-1][1] <= value:
            q.pop()
        q.append((now, value))
        while now - q[0][0] > self.window:
            q.popleft()
        return q[0][1]

    def get(self, now: float, default: float = 0.0) -> float:
        q = self._q
        while q and now - q[0][0] > self.window:
            q.popleft()
        return q[0][1] if q else default


class WindowedMin(WindowedMax):
    def update(self, now: float, value: float) -> float:
        return -super().update(now, -value)

    def get(self, now: float, default: float = float("inf")) -> float:
        v = super().get(now, -default)
        return -v


class RateController:
    name = "base"
    #: Times the model restarted at a capacity fall. Only bbr-rt restarts; its ``bandwidth``
    #: is then the rate measured since the fall, where a path it paces restarts its maximum.
    resets = 0

    def __init__(self, initial_rate: float = 125_000.0, mss: int = 1400) -> None:
        self.pacing_rate = initial_rate      # bytes/s
        self.cwnd = 10 * mss                 # bytes
        self.mss = mss
        self.in_flight = 0

    def on_sent(self, size: int, now: float) -> None:
        self.in_flight += size

    def on_ack(self, size: int, sent_at: float, received_at: float, now: float,
               app_limited: bool = False) -> None:
        self.in_flight = max(0, self.in_flight - size)

    def on_loss(self, size: int, now: float) -> None:
        self.in_flight = max(0, self.in_flight - size)

    def can_send(self, size: int) -> bool:
        return self.in_flight + size <= self.cwnd


class RoundController(RateController):
    """A delay-based controller that judges once per round trip (at least ``min_round``), on the
    *lowest* queueing delay of the round — what stands, not the jitter of a cellular
    scheduler's bursts. Queueing = one-way delay (send time → receiver's arrival time, any
    clock) above its 10-s minimum, so the reverse path does not count and clock offsets
    cancel. Subclasses decide in :meth:`_end_round`.

    A round whose lowest queueing delay is above ``busy`` had the bottleneck busy
    throughout: its bytes over the span of their *arrival* times (the receiver's clock) are
    what the bottleneck serves — its :attr:`capacity`, which an application-limited flow's
    delivery rate (only what was offered) never shows. One round is a few tens of
    milliseconds and a dozen packets, and reads up to a third off on a busy host (measured
    behind a relay sharing two cores with a CPU hog); so the capacity sums the busy rounds
    of the last ``CAPACITY_WINDOW`` seconds, and is known once they span ``MIN_SPAN``."""

    CAPACITY_WINDOW = 0.5
    MIN_SPAN = 0.05

    def __init__(self, initial_rate: float = 125_000.0, mss: int = 1400,
                 min_round: float = 0.01, busy: float = 0.010) -> None:
        super().__init__(initial_rate, mss)
        self.min_round = min_round
        self.busy = busy
        self._owd = WindowedMin(10.0)
        self._rtt = WindowedMin(10.0)
        self._round_start: float | None = None
        self._round_queue = float("inf")          # lowest queueing delay seen this round
        self._round_bytes = 0
        self.queue_delay = 0.0
        self.delivery_rate = 0.0                  # bytes/s delivered over the last round
        self.capacity = 0.0                       # bytes/s the bottleneck served when busy
        self.capacity_at: float | None = None     # when that was last measured
        self._busy: deque[tuple[float, int, float]] = deque()  # (time, bytes, arrival span)
        self._first_arrival = float("inf")        # this round's earliest arrival ...
        self._first_size = 0                      # ... and that packet's bytes
        self._last_arrival = float("-inf")

    def on_ack(self, size: int, sent_at: float, received_at: float, now: float,
               app_limited: bool = False) -> None:
        super().on_ack(size, sent_at, received_at, now)
        owd = received_at - sent_at
        self.queue_delay = owd - self._owd.update(now, owd)
        rtt_min = self._rtt.update(now, now - sent_at)
        self._round_queue = min(self._round_queue, self.queue_delay)
        self._round_bytes += size
        if received_at < self._first_arrival:
            self._first_arrival, self._first_size = received_at, size
        self._last_arrival = max(self._last_arrival, received_at)
        if self._round_start is None:
            self._round_start = now
            return
        elapsed = now - self._round_start
        if elapsed < max(rtt_min, self.min_round):
            return
        self.delivery_rate = self._round_bytes / elapsed
        span = self._last_arrival - self._first_arrival
        if self._round_queue > self.busy and span > 0:
            # (the first arrival's bytes were served before the span began)
            self._measure(self._round_bytes - self._first_size, span, now)
        self._end_round(self._round_queue, rtt_min)
        self._round_start, self._round_queue, self._round_bytes = now, float("inf"), 0
        self._first_arrival, self._last_arrival = float("inf"), float("-inf")

    def _measure(self, served: int, span: float, now: float) -> None:
        busy = self._busy
        busy.append((now, served, span))
        while now - busy[0][0] > self.CAPACITY_WINDOW:
            busy.popleft()
        total = sum(b[2] for b in busy)
        if total >= self.MIN_SPAN:
            self.capacity = sum(b[1] for b in busy) / total
            self.capacity_at = now

    def _end_round(self, queue: float, rtt_min: float) -> None:
        """A round ended with ``queue`` (s) as its lowest queueing delay."""
        raise NotImplementedError
