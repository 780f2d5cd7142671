"""Put RTP packets back in sequence order, waiting at most ``hold`` seconds for a gap.

RoQ's stream-per-frame and hybrid modes deliver packets of different frames on different
streams and datagrams, so they arrive out of order; a TS consumer downstream needs them in
order. Sans-I/O: ``push(packet, now)`` and ``poll(now)`` return what may leave now.

The first packet does not fix where the sequence starts: a frame's packets on a stream can be
overtaken by the next frame's (or the PSI's by the key frame's), so the buffer settles for one
hold time first, and an earlier packet arriving meanwhile becomes the start instead of being
dropped as late (which would cost the first key frame and everything up to the next). The
caller may settle for less than a long hold (bonded paths wait for a gap almost up to the
deadline; settling that long made the first pictures late): how far behind an earlier
packet can be, e.g. the reorder window plus the spread of the paths' delays.

A gap that QUIC is still repairing (a frame's stream lost a packet and is retransmitting it,
while newer frames' streams overtake it) may take longer than the hold: with ``may_fill``
set, a gap it says may still fill is waited for up to each packet's ``longest`` wait (the
time it can spend and still make its deadline).
"""

from __future__ import annotations

from strata_roq.rtp.seq import SeqUnwrapper


#: While waiting for a gap that may fill, how often to ask again (a reset stream ends it).
RECHECK = 0.01


class ReorderBuffer:
    def __init__(self, hold: float, may_fill=None) -> None:
        self.hold = hold
        #: ``may_fill(seq)`` (16-bit sequence number of the first missing packet): whether it
        #: may still come (a stream that should carry it is open). None: never waited for.
        self.may_fill = may_fill
        self._recheck: float | None = None
        self._filling: int | None = None     # the gap waited for beyond the hold
        self.waited_for_repair = 0           # gaps waited for beyond the hold
        self._unwrap = SeqUnwrapper()
        self._waiting: dict[int, tuple[bytes, float]] = {}
        self._next: int | None = None
        self._settle_until: float | None = None   # start-up: nothing leaves before this
        self.reordered = 0
        self.late = 0          # arrived after its place was given up: dropped
        self.duplicates = 0
        self.skipped = 0       # sequence numbers given up on (lost or too late)

    @property
    def started(self) -> bool:
        return self._next is not None

    def push(self, packet: bytes, seq: int, now: float, hold: float | None = None,
             longest: float | None = None, settle: float | None = None) -> list[bytes]:
        """Add a packet; ``hold`` overrides how long a gap before it may be waited for
        (e.g. the time left before its deadline when paths differ a lot in delay);
        ``longest``, how long for a gap that ``may_fill`` says may still fill; ``settle``
        (first packet only), how long to settle at most, if less than the hold."""
        ext = self._unwrap.unwrap(seq)
        wait = self.hold if hold is None else hold
        if self._next is None:
            self._next = ext
            self._settle_until = now + (wait if settle is None else min(wait, settle))
        elif self._settle_until is not None and ext < self._next:
            self._next = ext      # still settling: an earlier packet is the real start
        if ext < self._next:
            self.late += 1
            return []
        if ext in self._waiting:
            self.duplicates += 1
            return []
        if ext != self._next:
            self.reordered += 1
        self._waiting[ext] = (packet, now + wait, now + max(wait, longest or 0.0))
        return self.poll(now)

    def poll(self, now: float) -> list[bytes]:
        out: list[bytes] = []
        self._recheck = None
        if self._settle_until is not None:
            if now < self._settle_until:
                return out
            self._settle_until = None
        while self._waiting:
            item = self._waiting.pop(self._next, None)
            if item is not None:
                out.append(item[0])
                self._next += 1
                continue
            oldest = min(self._waiting)
            _, due, longest = self._waiting[oldest]
            if now < due:
                break
            if now < longest and self.may_fill is not None and self.may_fill(self._next & 0xFFFF):
                if self._filling != self._next:
                    self._filling = self._next
                    self.waited_for_repair += 1
                self._recheck = min(now + RECHECK, longest)
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
        self._settle_until = None
        self._recheck = self._filling = None
        return out

    def next_timeout(self) -> float | None:
        """When :meth:`poll` may next release something held back."""
        if not self._waiting:
            return None
        # What waits is released in order: only the first packet after the gap's wait
        # counts (a later packet with an earlier due time waits for it anyway; waking for
        # that one would only find nothing to do, again and again until this one is due).
        due = self._waiting[min(self._waiting)][1]
        if self._recheck is not None:
            due = max(due, self._recheck)      # waiting for a gap QUIC may still fill
        # Settling: everything waiting is looked at once it ends.
        return due if self._settle_until is None else self._settle_until
