"""Put RTP packets back in sequence order, waiting at most ``hold`` seconds for a gap.

RoQ's stream-per-frame and hybrid modes deliver packets of different frames on different
streams and datagrams, so they arrive out of order; a TS consumer downstream needs them in
order. Sans-I/O: ``push(packet, now)`` and ``poll(now)`` return what may leave now.
"""

from __future__ import annotations

from strata_roq.rtp.seq import SeqUnwrapper


class ReorderBuffer:
    def __init__(self, hold: float) -> None:
        self.hold = hold
        self._unwrap = SeqUnwrapper()
        self._waiting: dict[int, tuple[bytes, float]] = {}
        self._next: int | None = None
        self.reordered = 0
        self.late = 0          # arrived after its place was given up: dropped
        self.duplicates = 0
        self.skipped = 0       # sequence numbers given up on (lost or too late)

    def push(self, packet: bytes, seq: int, now: float, hold: float | None = None) -> list[bytes]:
        """Add a packet; ``hold`` overrides how long a gap before it may be waited for
        (e.g. the time left before its deadline when paths differ a lot in delay)."""
        ext = self._unwrap.unwrap(seq)
        if self._next is None:
            self._next = ext
        if ext < self._next:
            self.late += 1
            return []
        if ext in self._waiting:
            self.duplicates += 1
            return []
        if ext != self._next:
            self.reordered += 1
        self._waiting[ext] = (packet, now + (self.hold if hold is None else hold))
        return self.poll(now)

    def poll(self, now: float) -> list[bytes]:
        out: list[bytes] = []
        while self._waiting:
            item = self._waiting.pop(self._next, None)
            if item is not None:
                out.append(item[0])
                self._next += 1
                continue
            oldest = min(self._waiting)
            if now < self._waiting[oldest][1]:
                break
            self.skipped += oldest - self._next  # give up on the gap
            self._next = oldest
        return out

    def restart(self) -> list[bytes]:
        """A new sender (new sequence space): release what is held, in order, and start
        afresh from the next packet; the counters carry on."""
        out = [self._waiting[k][0] for k in sorted(self._waiting)]
        self._waiting.clear()
        self._unwrap = SeqUnwrapper()
        self._next = None
        return out

    def next_timeout(self) -> float | None:
        """When :meth:`poll` may next release something held back."""
        if not self._waiting:
            return None
        return min(t for _, t in self._waiting.values())
