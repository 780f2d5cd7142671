"""One injectable clock.

Cores never read the wall clock: they are handed ``now`` by whoever drives them. The driver
asks a :class:`Clock`. :class:`RealClock` is the monotonic clock of the process;
:class:`VirtualClock` is advanced by hand or jumped to its next timer, which is what lets the
simulator run a minute of trace-driven traffic in a fraction of a second, deterministically.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Anything with ``now()`` in seconds (float, monotonic, arbitrary epoch)."""

    def now(self) -> float: ...


class RealClock:
    """The process's monotonic clock (``time.monotonic``)."""

    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()


class WallClock:
    """Seconds since the Unix epoch (``time.time``).

    Only for *measuring* glass-to-glass latency between processes or machines: the test
    source stamps frames with wall-clock capture times and the probe reads arrivals on the
    same scale. Never use it to schedule: it jumps when NTP steps the clock.
    """

    __slots__ = ()

    def now(self) -> float:
        return time.time()


def wall_offset(read: Callable[[], float] = time.monotonic,
                wall: Callable[[], float] = time.time, tries: int = 4) -> float:
    """Unix time minus ``read()``'s clock, from readings taken together.

    A process that loses the CPU between reading one clock and the other (milliseconds on a
    loaded machine) would pair readings that far apart, and a Sender Report built on that
    pair would make every packet look that much younger to a receiver on our clock. So the
    wall clock is read between two readings of the other and the tightest of a few tries
    counts (the first under 50 µs ends it)."""
    best_span, best = float("inf"), 0.0
    for _ in range(tries):
        before = read()
        unix = wall()
        after = read()
        if after - before < best_span:
            best_span, best = after - before, unix - (before + after) / 2
            if best_span < 50e-6:
                break
    return best


@dataclass(order=True)
class TimerHandle:
    """A timer scheduled on a :class:`VirtualClock`; ``cancel()`` makes it a no-op."""

    when: float
    order: int
    callback: Callable[[], object] | None = field(compare=False)

    def cancel(self) -> None:
        self.callback = None

    @property
    def cancelled(self) -> bool:
        return self.callback is None


class VirtualClock:
    """A clock that moves only when told to, with timers that fire as it passes them.

    Timers due at the same instant fire in the order they were scheduled. A callback may
    schedule further timers; those due at or before the target time also fire within the
    same ``advance``.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._timers: list[TimerHandle] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        handle = TimerHandle(max(float(when), self._now), next(self._order), callback)
        heapq.heappush(self._timers, handle)
        return handle

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        return self.call_at(self._now + delay, callback)

    def next_timer(self) -> float | None:
        """When the earliest pending timer is due, or None when there is none."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].when if self._timers else None

    def advance_to(self, when: float) -> int:
        """Move to ``when`` (never backwards), firing every timer due on the way.

        Returns how many timers fired.
        """
        if when < self._now:
            raise ValueError(f"VirtualClock cannot go back from {self._now} to {when}")
        fired = 0
        while True:
            due = self.next_timer()
            if due is None or due > when:
                break
            handle = heapq.heappop(self._timers)
            self._now = handle.when
            callback, handle.callback = handle.callback, None
            if callback is not None:
                callback()
                fired += 1
        self._now = float(when)
        return fired

    def advance(self, delta: float) -> int:
        """Move forward by ``delta`` seconds, firing due timers."""
        if delta < 0:
            raise ValueError("VirtualClock cannot advance by a negative amount")
        return self.advance_to(self._now + delta)

    def advance_to_next_timer(self) -> bool:
        """Jump to the next timer and fire it (and any due at the same time).

        Returns False when no timer is pending (the clock does not move).
        """
        due = self.next_timer()
        if due is None:
            return False
        self.advance_to(due)
        return True

    def run(self, until: float | None = None, max_timers: int = 10_000_000) -> None:
        """Fire timers in order until none is left (or ``until`` is reached)."""
        for _ in range(max_timers):
            due = self.next_timer()
            if due is None or (until is not None and due > until):
                break
            self.advance_to(due)
        if until is not None and until > self._now:
            self._now = float(until)
