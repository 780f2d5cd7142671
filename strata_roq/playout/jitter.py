"""A NetEQ-style jitter buffer, sans-I/O: packets in with their media time, out at the
media's own pace.

Every packet's ``arrival − media time`` is the sender↔receiver clock offset plus its delay;
the offset is unknown but the same for all, so only *relative* delays matter (how much later
than the fastest packet of the last ~2 s one arrives) — a +3 s sender clock changes nothing.
Playout: packet *i* leaves at ``media_i + P``. ``P`` — the playout offset — must stay at or
above the slowest recent packet's ``arrival − media`` (plus a small margin) for nothing to be
late: it moves **up at once** when a packet would be late (or a new maximum appears), and
**down slowly** (``decay`` s per s) when the recent maximum falls, so the output's timing
barely moves (a jump would be an audible/visible glitch). The *target delay* reported is
``P`` minus the fastest recent offset: the buffering the jitter costs.

**Room for repairs** (``repair``, for inputs that retransmit: RoQ's QUIC, RIST): a packet
lost is repaired after one more trip through the path as it was — the packet's offset, plus
the queueing the resend meets too (offset − fastest), plus ``repair`` seconds for loss
detection and the round trip; the largest such room over the window is kept. When a queue
builds (a path's capacity fell), ``P`` is raised to leave that room, but gradually (each
frame held at most ``1 + stretch`` of its interval: 1.75 at the default 0.75), so the
output slows instead of freezing, and repairs that would have missed their turn make it.
On a calm path the room is far below the cushion and changes nothing.

A packet whose playout time has passed before it arrives is skipped and counted (better
never than late: its retransmission is given up — :meth:`JitterBuffer.given_up` says which);
a packet missing at its playout time is an underrun, counted, and the next one plays on
schedule. Output is in sequence order; duplicates are dropped.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from strata_roq.cc.base import WindowedMax, WindowedMin
from strata_roq.rtp.seq import SeqUnwrapper


@dataclass
class JitterStats:
    packets: int = 0
    played: int = 0
    underruns: int = 0        # missing at their playout time (skipped)
    late: int = 0             # arrived after their playout time (dropped)
    duplicates: int = 0
    raises: int = 0           # times P went up
    stretched_ms: float = 0.0  # P raised gradually to leave room for repairs, in total

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class JitterBuffer:
    def __init__(self, window: float = 2.0, margin: float = 0.005, minimum: float = 0.010,
                 decay: float = 0.002, seq_bits: int = 16, repair: float | None = None,
                 stretch: float = 0.75, ceiling: float | None = None) -> None:
        self.window = window
        self.repair = repair          # s a repair needs beyond the queue (None: no room kept)
        self.stretch = stretch        # while making that room a frame is held <= 1 + stretch
        self.ceiling = ceiling        # the room stays under fastest + this (the latency budget)
        self.margin = margin
        self.minimum = minimum
        self.decay = decay
        self.stats = JitterStats()
        self._slowest = WindowedMax(window)
        self._fastest = WindowedMin(window)
        self._unwrap = SeqUnwrapper(bits=seq_bits)
        self._heap: list[tuple[int, float, bytes]] = []     # (seq, media time, data)
        self._next_seq: int | None = None
        self._next_media: float | None = None                # media time of _next_seq, if known
        self.offset: float | None = None                     # P
        self._last_decay: float | None = None
        self._given_up: list[int] = []
        self._fastest_seen: float | None = None      # fastest offset of the window, last push
        self._highest: int | None = None             # highest (unwrapped) seq arrived
        self._rooms = WindowedMax(window)            # in-order offset + queueing, recent max

    @property
    def target_delay(self) -> float:
        """Buffering beyond the fastest recent packet (what the jitter costs), seconds."""
        if self.offset is None or self._fastest_seen is None:
            return 0.0
        return self.offset - self._fastest_seen

    def push(self, seq: int, media_time: float, data: bytes, now: float) -> None:
        """A packet arrived ``now`` (receiver clock); ``media_time`` from its timestamp."""
        self.stats.packets += 1
        s = self._unwrap.unwrap(seq)
        d = now - media_time
        slowest = self._slowest.update(now, d)
        self._fastest_seen = self._fastest.update(now, d)
        if self._highest is None or s > self._highest:   # in order: not a repair
            self._highest = s
            if self.repair is not None:
                self._rooms.update(now, d + max(0.0, d - self._fastest_seen))
        if self.offset is None:
            self.offset = d + max(self.minimum, self.margin)
            self._last_decay = now
        want = max(slowest + self.margin, self._fastest.get(now) + self.minimum)
        if want > self.offset:                  # up at once: nothing may be late
            self.offset = want
            self.stats.raises += 1
        if self._next_seq is not None and s < self._next_seq:
            self.stats.late += 1                # its turn has passed
            return
        if any(x[0] == s for x in self._heap):
            self.stats.duplicates += 1
            return
        heapq.heappush(self._heap, (s, media_time, data))
        if self._next_seq is None:
            self._next_seq = s

    def _room(self, now: float) -> float | None:
        """The offset that leaves a packet lost recently time to be repaired (None: not
        kept): over the window, the largest in-order packet's offset plus the queueing its
        resend would meet too (its offset − the fastest), plus ``repair`` — no more than
        ``ceiling`` above the fastest. The largest, because a packet lost while the queue
        was full is repaired after it drains; in order only, because a repaired packet's
        lateness counted again would feed the room on itself."""
        if self.repair is None:
            return None
        base = self._rooms.get(now, default=None)      # offsets carry the clock offset:
        if base is None:                                 # any sign; None is "no packet yet"
            return None
        room = base + self.repair
        if self.ceiling is not None:
            room = min(room, self._fastest.get(now, default=base) + self.ceiling)
        return room

    def _decay(self, now: float) -> None:
        if self._last_decay is None or self.offset is None:
            return
        dt = max(0.0, now - self._last_decay)
        self._last_decay = now
        room = self._room(now)
        if room is not None and room > self.offset:
            # Up gradually: the output slows. The caller sleeps until the next release and
            # each wake-up's raise postpones it again, so a rate r over the wall clock holds
            # a frame 1/(1 - r) of its interval: r = s/(1 + s) holds it 1 + s.
            step = min(room - self.offset, self.stretch / (1 + self.stretch) * dt)
            self.offset += step
            self.stats.stretched_ms += step * 1000
            return
        want = max(self._slowest.get(now, default=self.offset) + self.margin,
                   self._fastest.get(now, default=self.offset) + self.minimum,
                   room if room is not None else -float("inf"))
        if want < self.offset:
            self.offset = max(want, self.offset - self.decay * dt)

    def pop(self, now: float) -> list[bytes]:
        """Packets due by ``now``, in order; missing ones whose time has come are skipped."""
        self._decay(now)
        out: list[bytes] = []
        heap = self._heap
        while heap and self.offset is not None:
            seq, media, data = heap[0]
            if media + self.offset > now:
                break
            heapq.heappop(heap)
            if seq > self._next_seq:            # the ones before it never came in time
                self.stats.underruns += seq - self._next_seq
                self._given_up.extend(range(self._next_seq, seq))
            self._next_seq = seq + 1
            out.append(data)
        self.stats.played += len(out)
        return out

    def next_time(self) -> float | None:
        """When :meth:`pop` next has something to do (for the caller's timer)."""
        if not self._heap or self.offset is None:
            return None
        return self._heap[0][1] + self.offset

    def given_up(self) -> list[int]:
        """Sequence numbers (unwrapped) skipped since the last call: stop repairing them."""
        out, self._given_up = self._given_up, []
        return out
