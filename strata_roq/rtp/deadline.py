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

That estimate misses what the transport's RTT does not see: the fastest packet's time inside
the sender (arrival to the wire) and inside the receiver, 1–4 ms on a loaded machine, all of
it counted as zero. Where the sender's clock is ours (one machine, or synchronised), its
Sender Reports (RTP time = wall time, RFC 3550 §6.4.1) give each packet's age outright,
processing included. A report is trusted only while the absolute age of the fastest packet
is within :data:`SYNC_TOLERANCE` above the relative estimate: less, and the relative one is
the later (safer) anyway; more, and it is another machine's clock, not processing time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from strata_roq.cc.base import WindowedMin
from strata_roq.rtp.seq import SeqUnwrapper

#: How much older than the relative estimate a Sender Report may make the fastest packet
#: and still be taken as the same clock: unmeasured processing is milliseconds; a larger
#: difference is more likely two clocks that disagree.
SYNC_TOLERANCE = 0.020


class DeadlineFilter:
    def __init__(self, latency: float, clock_rate: int = 90000, window: float = 30.0) -> None:
        self.latency = latency
        self.clock_rate = clock_rate
        self.window = window
        self._unwrap = SeqUnwrapper(bits=32)
        self._mins = WindowedMin(window)     # arrival offsets (arrival - media time)
        self._low: float | None = None       # their minimum at the last arrival
        self.admitted = 0
        self.dropped = 0
        self.max_age = 0.0
        self.last_age = 0.0     # age of the packet last judged by admit()
        self._origin: float | None = None   # media time 0 on our clock, by a Sender Report
        self._origins = WindowedMin(window)      # the reports' origins
        #: The fastest packet's age by the sender's clock minus its relative estimate (the
        #: processing that estimate misses), while a report is trusted; else None.
        self.clock_bias: float | None = None
        self.reports_untrusted = 0

    def sync(self, timestamp: int, sender_wall: float, now: float, wall: float) -> None:
        """A Sender Report: RTP ``timestamp`` was ``sender_wall`` (Unix seconds) on the
        sender's clock; ``wall`` is our Unix time at ``now``.

        Each report gives media time 0 on our clock. A sender that read its wall clock a
        moment after the RTP time it pairs with it (it lost the CPU in between) gives a
        later origin, making packets look younger, never older: so the earliest origin of
        the reports in the window counts (clocks drift by a millisecond or two in it)."""
        media = self._unwrap.unwrap(timestamp) / self.clock_rate
        self._origin = self._origins.update(now, sender_wall - (wall - now) - media)

    def age(self, timestamp: int, now: float, base_owd: float = 0.0) -> float:
        """Seconds since capture of a packet with RTP ``timestamp`` arriving ``now``."""
        media = self._unwrap.unwrap(timestamp) / self.clock_rate
        offset = now - media
        low = self._low = self._mins.update(now, offset)
        relative = offset - low + base_owd
        if self._origin is None:
            return relative
        bias = low - self._origin - base_owd            # absolute minus relative, any packet
        if bias > SYNC_TOLERANCE:                       # another machine's clock
            self.reports_untrusted += 1
            self._origin = self.clock_bias = None
            self._origins = WindowedMin(self.window)
            return relative
        self.clock_bias = bias
        return max(relative, offset - self._origin)

    def age_now(self, timestamp: int, now: float, base_owd: float = 0.0) -> float:
        """The age ``now`` of a packet admitted earlier — judged as :meth:`age` would,
        without taking ``now`` as an arrival (the window and the clock state stay as they
        are); 0 before any packet."""
        if self._low is None:
            return 0.0
        offset = now - self._unwrap.peek(timestamp) / self.clock_rate
        age = offset - self._low + base_owd
        if self.clock_bias is not None and self._origin is not None:
            age = max(age, offset - self._origin)
        return age

    def late(self, timestamp: int, now: float, base_owd: float = 0.0) -> bool:
        """Whether a packet admitted earlier is past the budget ``now``."""
        return self.age_now(timestamp, now, base_owd) > self.latency

    def admit(self, timestamp: int, now: float, base_owd: float = 0.0) -> bool:
        age = self.last_age = self.age(timestamp, now, base_owd)
        if age > self.latency:
            self.dropped += 1
            return False
        self.admitted += 1
        self.max_age = max(self.max_age, age)
        return True


@dataclass
class Release:
    """What :func:`release_on_time` did with a batch."""
    sent: int = 0
    late: int = 0            # past the budget when their turn to go came: dropped
    oldest: float = 0.0      # the oldest age handed on, as judged just before its send
    stall: float = 0.0       # the longest a send took after its judgement


def release_on_time(packets, limit: DeadlineFilter, base_owd: float,
                    read_clock: Callable[[], float], send: Callable[[bytes], None]) -> Release:
    """Hand on each packet still within the budget, judged by the clock read just before
    it goes — not once for the batch: handing a packet to a local reader wakes it, and the
    scheduler may give it our CPU there and then, so the rest of a batch can go out
    milliseconds after a judgement made at its start. ``stall`` reports how long a send
    took after its judgement: what no judgement before the send can see."""
    r = Release()
    latency = limit.latency
    for data in packets:
        before = read_clock()
        age = limit.age_now(int.from_bytes(data[4:8], "big"), before, base_owd)
        if age > latency:
            r.late += 1
            continue
        send(data)
        r.sent += 1
        r.stall = max(r.stall, read_clock() - before)
        if age > r.oldest:
            r.oldest = age
    return r


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
