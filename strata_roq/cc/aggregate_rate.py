"""The encoder's rate for a bonded sender: what all live paths carry together, less what the
bonding itself adds on top of the media.

Each path gets its own estimator (:class:`~strata_roq.cc.encoder_rate.EncoderRate`: the
one-way-delay gradient on that path's packets and its RFC 8888 arrivals), so a queue on the
LTE modem cuts the LTE share, not the satellite's. The encoder is told

    signal = 0.9 × Σ safe rate of the live paths / (wire bytes ÷ media bytes, last 2 s)

— the second term is the redundancy the scheduler (duplicates), FEC (repair symbols) and ARQ
(retransmissions) spend; the encoder must leave room for it. A dead path contributes
nothing from the moment it is declared dead, so the signal falls with a modem at once.
The result goes through one :class:`~strata_roq.cc.rate_signal.RateSignal` (down at once,
up slowly) and is repeated every ``repeat`` seconds like the single-path loop's.

Sans-I/O: packets, feedback, liveness and times in; a rate out.
"""

from __future__ import annotations

from collections import deque

from strata_roq.cc.encoder_rate import EncoderRate

PATH_ROUND = 0.1          # s: the shortest round a path's controller judges
from strata_roq.cc.rate_signal import RateSignal, RateTeller

#: Window of the wire/media ratio (s).
OVERHEAD_WINDOW = 2.0


class AggregateRate:
    def __init__(self, paths: int, initial_bps: float, *, max_bps: float | None = None,
                 min_bps: float = 200_000.0, repeat: float = 0.25) -> None:
        self.max_bps = max_bps or initial_bps
        self.min_bps = min_bps
        share = initial_bps / max(paths, 1)
        # Rounds of at least 100 ms: bonded paths report every 25 ms (for loss detection),
        # and a delivery rate over one short round swings with the video's frame bursts —
        # a path carrying 2 of 4 Mbit/s read as anything from 1.5 to 2.5.
        self.paths = [EncoderRate(share, max_bps=1e12, min_bps=min(50_000.0, share),
                                  min_round=PATH_ROUND, drives_encoder=False)
                      for _ in range(paths)]
        # The margin leaves room for what the encoder adds to its video target (audio, TS and
        # RTP headers: ~10 %) — with several paths at their edge, that is a queue on each.
        self.signal = RateSignal(floor=min_bps, margin=0.9)
        self.rate_bps = float(initial_bps)
        self.instant_bps = float(initial_bps)
        self.overhead = 1.0
        self._media: deque[tuple[float, int]] = deque()
        self._wire: deque[tuple[float, int]] = deque()
        self._media_bytes = self._wire_bytes = 0
        self._teller = RateTeller(repeat)
        self._fresh = False                  # feedback since the signal last moved
        self._alive: list[bool] | None = None

    def on_media(self, size: int, now: float) -> None:
        """A packet of the media itself (what the encoder produced)."""
        self._media.append((now, size))
        self._media_bytes += size

    def on_sent(self, path: int, seq: int, size: int, now: float) -> None:
        """Anything put on path ``path``: media, duplicate, repair or retransmission."""
        self.paths[path].on_sent(seq, size, now)
        self._wire.append((now, size))
        self._wire_bytes += size

    def on_feedback(self, path: int, arrivals, now: float) -> None:
        self.paths[path].on_feedback(arrivals, now)
        self._fresh = True

    def update(self, alive: list[bool], now: float,
               capacity: list[float] | None = None) -> float:
        """Recompute the signal from the live paths' estimates; returns it (bit/s).

        ``capacity``: each path's recent best delivery rate (bit/s) as the bonding core
        measured it. A path the scheduler hardly uses (it prefers a faster one until that is
        full) delivers little, so its own estimate — capped by what it delivered — shows
        nothing of what it could carry; while its delays show no queue, 0.9 × that measured
        capacity stands in. Once the encoder grows into it, the path's own estimate rules."""
        for q, attr in ((self._media, "_media_bytes"), (self._wire, "_wire_bytes")):
            while q and now - q[0][0] > OVERHEAD_WINDOW:
                setattr(self, attr, getattr(self, attr) - q.popleft()[1])
        if self._media_bytes > 0 and self._wire_bytes > 0:
            self.overhead = max(1.0, self._wire_bytes / self._media_bytes)
        for est in self.paths:
            est.poll(now)                    # (each path's silence rule)
        total = 0.0
        for i, (est, up) in enumerate(zip(self.paths, alive)):
            if not up:
                continue
            safe = est.instant_bps
            ctrl = est.controller
            if capacity is not None and ctrl.standing_queue <= ctrl.target:
                safe = max(safe, 0.9 * capacity[i])
            total += safe
        self.instant_bps = total
        # The signal moves once per feedback report (its EWMA counts updates), or at once
        # when a path comes or goes.
        if self._fresh or alive != self._alive:
            self._fresh, self._alive = False, list(alive)
            instant = min(self.max_bps, max(self.min_bps, total / self.overhead))
            self.rate_bps = self.signal.update(instant)
        return self.rate_bps

    def retell(self) -> None:
        """Tell the encoder at the next :meth:`poll` (it has just started sending)."""
        self._teller.retell()

    def poll(self, now: float) -> int | None:
        """The rate to tell the encoder now (on change, and every ``repeat`` s), or None."""
        return self._teller.due(int(self.rate_bps), now)
