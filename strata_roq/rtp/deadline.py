"""Receiver-side "better never than late": drop RTP packets already past the latency budget.

The receiver cannot see the sender's clock, but RTP timestamps are media (capture) time. For
each packet, ``arrival - timestamp/clock_rate`` is the sender-to-receiver clock offset plus
this packet's one-way delay; its minimum over a recent window belongs to the fastest packet
(NetEQ's *relative delay* idea), i.e. clock offset + base one-way delay. So a packet's age
since capture is ``relative delay + base one-way delay``, where the base one-way delay comes
from the transport (min RTT / 2 from QUIC). A packet whose age exceeds the budget is dropped
and counted: handing it on would only make the player late. The window (30 s) must outlast
any overload, or the delayed packets of a long congestion episode would become "the
fastest" and hide their own lateness; clock drift over 30 s is a millisecond or two.
"""

from __future__ import annotations

from collections import deque

from strata_roq.rtp.seq import SeqUnwrapper


class DeadlineFilter:
    def __init__(self, latency: float, clock_rate: int = 90000, window: float = 30.0) -> None:
        self.latency = latency
        self.clock_rate = clock_rate
        self.window = window
        self._unwrap = SeqUnwrapper(bits=32)
        self._mins: deque[tuple[float, float]] = deque()   # (arrival, offset), increasing offsets
        self.admitted = 0
        self.dropped = 0
        self.max_age = 0.0
        self.last_age = 0.0     # age of the packet last judged by admit()

    def age(self, timestamp: int, now: float, base_owd: float = 0.0) -> float:
        """Seconds since capture of a packet with RTP ``timestamp`` arriving ``now``."""
        media = self._unwrap.unwrap(timestamp) / self.clock_rate
        offset = now - media
        mins = self._mins
        while mins and mins[-1][1] >= offset:     # monotonic deque: windowed minimum
            mins.pop()
        mins.append((now, offset))
        while mins[0][0] < now - self.window:
            mins.popleft()
        return offset - mins[0][1] + base_owd

    def admit(self, timestamp: int, now: float, base_owd: float = 0.0) -> bool:
        age = self.last_age = self.age(timestamp, now, base_owd)
        if age > self.latency:
            self.dropped += 1
            return False
        self.admitted += 1
        self.max_age = max(self.max_age, age)
        return True


#: How late the receiver's hold timer may fire after it expires (its poll period).
RELEASE_SLACK = 0.005


def gap_wait(age: float, latency: float, reorder: float, bonded: bool) -> float:
    """How long a packet of ``age`` may wait behind a sequence gap before it is released.

    Single path: the configured reorder window. Bonded paths differ a lot in delay, so a gap
    may be waited for as long as this packet can still make its deadline. Either way the wait
    never runs past the packet's own deadline (less the release timer's slack): a packet
    admitted just in time must not be made late by the reorder buffer holding it.
    """
    remaining = latency - age - RELEASE_SLACK
    wait = max(reorder, remaining - 0.010) if bonded else reorder
    return max(0.0, min(wait, remaining))
