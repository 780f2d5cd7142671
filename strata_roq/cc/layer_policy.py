"""When to drop the disposable layer: the media's own rate against the path's safe rate.

The encoder may be out of reach (a camera in a van), or slow to follow the rate signal; the
gateway can still make the stream fit at once by removing the pictures nothing depends on
(:mod:`strata_roq.media.thinning`). The rule is asymmetric, like the rate signal's: the
layer goes as soon as the media (measured over the last ``window`` seconds, before thinning)
exceeds the safe-rate estimate by more than ``tolerance`` — a queue is building now — and
comes back only after the estimate has covered the whole media rate for ``hold`` seconds,
so a path at the edge does not flap between frame rates. The tolerance (5 %) is the
measurements' own noise: a one-second window that holds a key frame reads a few per cent
above the stream's rate, and a capacity measured over a few busy rounds varies by as much;
a stream that fitted its path read 0.6 % over the measured capacity and was thinned.

Sans-I/O: bytes and times in, a decision out.
"""

from __future__ import annotations

from collections import deque


class LayerPolicy:
    def __init__(self, window: float = 1.0, hold: float = 2.0, tolerance: float = 0.05) -> None:
        self.window = window
        self.hold = hold
        self.tolerance = tolerance
        self.dropping = False
        self.switches = 0
        self.seconds_dropping = 0.0
        self._samples: deque[tuple[float, int]] = deque()
        self._bytes = 0
        self._first: float | None = None
        self._fits_since: float | None = None
        self._changed_at: float | None = None

    def on_media(self, size: int, now: float) -> None:
        """One packet of the incoming media (before any thinning)."""
        if self._first is None:
            self._first = now
        self._samples.append((now, size))
        self._bytes += size

    def media_bps(self, now: float) -> float:
        samples = self._samples
        while samples and now - samples[0][0] > self.window:
            self._bytes -= samples.popleft()[1]
        if self._first is None:
            return 0.0
        span = min(self.window, now - self._first)
        return self._bytes * 8 / span if span > 0 else 0.0

    def update(self, safe_bps: float, now: float) -> bool:
        """Whether the disposable layer is dropped now, given the path's safe rate."""
        media = self.media_bps(now)
        if not self.dropping:
            if media > safe_bps * (1 + self.tolerance) and self._first is not None and \
                    now - self._first >= self.window:
                self._switch(True, now)
        elif safe_bps < media:
            self._fits_since = None
        elif self._fits_since is None:
            self._fits_since = now
        elif now - self._fits_since >= self.hold:
            self._switch(False, now)
        return self.dropping

    def _switch(self, dropping: bool, now: float) -> None:
        if self._changed_at is not None and self.dropping:
            self.seconds_dropping += now - self._changed_at
        self.dropping = dropping
        self.switches += 1
        self._changed_at = now
        self._fits_since = None

    def stats(self, now: float) -> dict:
        extra = now - self._changed_at if self.dropping and self._changed_at is not None else 0.0
        return {"dropping": self.dropping, "switches": self.switches,
                "seconds_dropping": round(self.seconds_dropping + extra, 3),
                "media_bps": int(self.media_bps(now))}
