"""What every per-path controller takes and gives, sans-I/O.

In: ``on_sent`` (bytes leaving now), ``on_ack`` (a packet's bytes, when it was sent, when
the receiver got it — on the *receiver's* clock, so only differences of one-way delays are
meaningful — and now), ``on_loss``. Out: :attr:`pacing_rate` (bytes/s the path is given) and
:attr:`cwnd` (bytes allowed in flight). QUIC's own controller still bounds the connection;
this decides how much media the path is offered, so it never has to build a queue.
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

    def __init__(self, initial_rate: float = 125_000.0, mss: int = 1400) -> None:
        self.pacing_rate = initial_rate      # bytes/s
        self.cwnd = 10 * mss                 # bytes
        self.mss = mss
        self.in_flight = 0

    def on_sent(self, size: int, now: float) -> None:
        self.in_flight += size

    def on_ack(self, size: int, sent_at: float, received_at: float, now: float) -> None:
        self.in_flight = max(0, self.in_flight - size)

    def on_loss(self, size: int, now: float) -> None:
        self.in_flight = max(0, self.in_flight - size)

    def can_send(self, size: int) -> bool:
        return self.in_flight + size <= self.cwnd
