"""One direction of an emulated network path, sans-I/O: ``send(data, now)`` then
``poll(now)`` for what has arrived. What netem would do, in user space.

Order of effects per packet: loss model → bottleneck (a FIFO drained at ``rate`` bit/s or by
a capacity trace's delivery opportunities, tail-dropping once the queue holds more than
``queue_limit`` seconds of waiting) → propagation ``delay`` plus ``jitter`` (FIFO kept, as
on a real path, except for the ``reorder`` fraction, which is held ``reorder_delay`` longer)
→ optional duplication. Every fate is counted.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
from dataclasses import asdict, dataclass

from strata_roq.netsim.loss import LossModel, NoLoss
from strata_roq.netsim.trace import MTU_BYTES, DeliveryTrace


@dataclass(slots=True)
class LinkStats:
    offered: int = 0
    offered_bytes: int = 0    # what the sender put on this path (overhead accounting)
    delivered: int = 0
    lost: int = 0             # by the loss model
    queue_drops: int = 0      # by the bottleneck queue
    duplicated: int = 0
    reordered: int = 0
    down_drops: int = 0       # while the link is down (outage)

    def as_dict(self) -> dict:
        return asdict(self)


class Link:
    def __init__(self, *, delay: float = 0.0, jitter: float = 0.0, loss: LossModel | None = None,
                 rate: float | None = None, trace: DeliveryTrace | None = None,
                 queue_limit: float = 0.2, duplicate: float = 0.0, reorder: float = 0.0,
                 reorder_delay: float = 0.010, rng: random.Random | None = None,
                 delay_schedule: list[tuple[float, float]] | None = None) -> None:
        """``delay_schedule``: (time since ``origin``, one-way delay) steps that
        replace ``delay`` over time (e.g. a ping series from a drive)."""
        self.delay = delay
        self.jitter = jitter
        self.loss = loss or NoLoss()
        self.rate = rate
        self.trace = trace
        self.queue_limit = queue_limit
        self.duplicate = duplicate
        self.reorder = reorder
        self.reorder_delay = reorder_delay
        self.rng = rng or random.Random(0)
        self.up = True
        self.delay_schedule = delay_schedule
        self._schedule_times = [t for t, _ in delay_schedule] if delay_schedule else []
        self.stats = LinkStats()
        self._arrivals: list = []
        self._ids = itertools.count()
        self._free_at = 0.0          # when the bottleneck has sent everything queued
        self._last_arrival = 0.0
        #: Time 0 of the capacity trace and the delay schedule: the first packet offered,
        #: unless set (a relay given ``--epoch``; before it, a trace runs as if looped).
        self.origin: float | None = None
        self._trace_index: int | None = None   # next unused delivery opportunity
        self._trace_credit = 0       # bytes left in the opportunity being used

    def set_up(self, up: bool) -> None:
        """Path death and return (outages, LEO handovers)."""
        self.up = up

    def current_delay(self, now: float) -> float:
        if not self.delay_schedule:
            return self.delay
        if self.origin is None:
            self.origin = now
        k = bisect.bisect_right(self._schedule_times, now - self.origin) - 1
        return self.delay_schedule[max(k, 0)][1]

    def queue_delay(self, now: float) -> float:
        return max(0.0, self._free_at - now)

    def send(self, data, now: float, size: int | None = None) -> None:
        """Offer one packet; ``data`` may be any object when ``size`` (bytes) is given."""
        self.stats.offered += 1
        self.stats.offered_bytes += len(data) if size is None else size
        if not self.up:
            self.stats.down_drops += 1
            return
        if self.loss.lost(self.rng):
            self.stats.lost += 1
            return
        departure = self._serialise(len(data) if size is None else size, now)
        if departure is None:
            self.stats.queue_drops += 1
            return
        arrival = departure + self.current_delay(now)
        if self.jitter:
            arrival += abs(self.rng.gauss(0.0, self.jitter))
        if self.reorder and self.rng.random() < self.reorder:
            self.stats.reordered += 1
            arrival += self.reorder_delay
        else:
            arrival = max(arrival, self._last_arrival)   # jitter alone does not reorder
            self._last_arrival = arrival
        heapq.heappush(self._arrivals, (arrival, next(self._ids), data))
        if self.duplicate and self.rng.random() < self.duplicate:
            self.stats.duplicated += 1
            heapq.heappush(self._arrivals, (arrival + 0.0001, next(self._ids), data))

    def _serialise(self, size: int, now: float) -> float | None:
        """Departure time through the bottleneck, or None when the queue is full."""
        if self.trace is None and not self.rate:
            return now
        if self._free_at - now > self.queue_limit:
            return None
        start = max(now, self._free_at)
        if self.trace is None:
            self._free_at = start + size * 8.0 / self.rate
            return self._free_at
        if self.origin is None:
            self.origin = now
        if self._trace_index is None or self._free_at < now:
            # idle link: opportunities in the past are gone. (The first packet may come
            # before the origin — a relay set up ahead of its --epoch: the trace then runs
            # as if looped, from a negative index, rather than holding the packet until
            # the origin: that held the paths' QUIC handshakes and they timed out.)
            at = self.trace.index_at(now - self.origin)
            self._trace_index = at if self._trace_index is None else max(self._trace_index, at)
            self._trace_credit = 0
        need = size
        t = start
        while need > 0:
            if self._trace_credit == 0:
                t = self.origin + self.trace.time_of(self._trace_index)
                self._trace_index += 1
                self._trace_credit = MTU_BYTES
            take = min(need, self._trace_credit)
            need -= take
            self._trace_credit -= take
        self._free_at = max(t, start)
        return self._free_at

    def poll(self, now: float) -> list:
        out = []
        while self._arrivals and self._arrivals[0][0] <= now:
            out.append(heapq.heappop(self._arrivals)[2])
        self.stats.delivered += len(out)
        return out

    def next_time(self) -> float | None:
        return self._arrivals[0][0] if self._arrivals else None
