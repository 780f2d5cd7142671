"""The one number the encoder is told: the aggregate safe rate, smoothed asymmetrically.

Decreases take effect at once (a queue is building: the encoder must back off now);
increases come slowly through an EWMA (a brief capacity spike is not worth a bitrate jump the
next dip will undo). Signalled rate = min(instant, EWMA) — so it follows every fall within
one update and climbs smoothly — times a safety ``margin`` for FEC/retransmission headroom,
changed only when it moves by more than ``deadband`` (encoders dislike constant
re-targeting).

A ``plateau`` (bit/s, set by the owner: the last rate measured to fit the path) slows the
climb where the last overshoot happened, as CUBIC does near its last maximum: within
``band`` above it the EWMA gains at most ``creep`` of it per update, so a queue is caught
a few per cent over the fit instead of after the signal ran 10 % past it; further up the
climb is quick again (the capacity has grown).
"""

from __future__ import annotations


class RateSignal:
    def __init__(self, alpha: float = 0.05, margin: float = 0.9, deadband: float = 0.03,
                 floor: float = 100_000.0, band: float = 0.1, creep: float = 0.005) -> None:
        self.alpha = alpha            # EWMA weight per update (updates every ~50 ms)
        self.margin = margin
        self.deadband = deadband
        self.floor = floor            # bit/s: never ask an encoder for less
        self.band = band
        self.creep = creep            # share of the plateau per update, within the band
        self.plateau: float | None = None
        self.ewma: float | None = None
        self.signalled: float | None = None
        self.changes = 0

    def update(self, instant: float) -> float:
        """Feed the current aggregate estimate (bit/s); returns the rate to signal."""
        if self.ewma is None:
            self.ewma = instant
        elif instant < self.ewma:
            self.ewma = instant                              # down at once
        else:
            rise = self.alpha * (instant - self.ewma)        # up slowly
            top = self.plateau
            if top is not None and self.ewma + rise > top and self.ewma < top * (1 + self.band):
                rise = min(rise, max(top - self.ewma, 0.0) + self.creep * top)
            self.ewma += rise
        target = max(self.floor, min(instant, self.ewma) * self.margin)
        if self.signalled is None or target < self.signalled or \
                abs(target - self.signalled) > self.deadband * self.signalled:
            if self.signalled != target:
                self.changes += 1
            self.signalled = target
        return self.signalled


class RateTeller:
    """When the encoder is told: on every change, and again every ``repeat`` seconds (the
    message may be lost, or the encoder started after us)."""

    def __init__(self, repeat: float = 0.25) -> None:
        self.repeat = repeat
        self._told: int | None = None
        self._at: float | None = None

    def retell(self) -> None:
        """Tell again at the next :meth:`due`, whatever the repeat timer says: the encoder
        has just appeared (its first media arrived), and what we told before went nowhere."""
        self._at = None

    def due(self, rate: int, now: float) -> int | None:
        """``rate`` if it is to be told now, else None."""
        if rate != self._told or self._at is None or now - self._at >= self.repeat:
            self._told, self._at = rate, now
            return rate
        return None
