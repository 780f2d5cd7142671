"""Two-state Gilbert-Elliott loss on one path, estimated from feedback over the last ~5 s,
and what it predicts for the next block of packets.

The simple Gilbert model: a *good* state that delivers and a *bad* state that loses; ``p`` is
P(good → bad), ``r`` P(bad → good). Counting transitions in the recent received/lost
sequence estimates both — with priors: half a loss in the good state (a clean window still
predicts a small loss instead of none) and one recovery in the bad state (no burst seen
means losses are taken as isolated, not as bursts of unknown length). :meth:`GilbertElliott.block_loss` gives the distribution of
the number of losses among the next ``n`` packets — a two-state Markov chain walked with
numpy — which is what an adaptive FEC needs: the repair count whose residual loss meets a
target. :class:`BurstDetector` is the quick reflex next to it: more than three losses in a
row puts the path in "bad" (redundancy doubled) until 5 s pass clean — without another such
burst (isolated losses are the estimate's business: on a 1 % lossy path a loss-free 5 s may
never come, and the reflex would never let go).
"""

from __future__ import annotations

from collections import deque

import numpy as np

WINDOW = 5.0                 # seconds of feedback the estimate covers
PSEUDO = 0.5                 # pseudo-count of losses from the good state (clean ≠ lossless)


class GilbertElliott:
    """Windowed transition counts of one path's received (False) / lost (True) sequence.
    A transition is counted at ``2 * previous + lost`` (0: good→good, 1: good→bad,
    2: bad→good, 3: bad→bad). It is called for every acknowledged packet, so it keeps
    counts per ``slot`` of time (the window is ``window`` to ``window + slot`` long), not
    one record per packet: 50 slots instead of ~10,000 events at 2,000 packets a second."""

    def __init__(self, window: float = WINDOW, slot: float = 0.1) -> None:
        self.window = window
        self._slot_length = slot
        self._slots: deque[tuple[float, list[int]]] = deque()   # (slot's end, its counts)
        self._slot = [0, 0, 0, 0]           # the current slot's counts
        self._slot_end = float("-inf")
        self._counts = [0, 0, 0, 0]
        self.last_lost = False

    def observe(self, lost: bool, now: float) -> None:
        transition = 2 * self.last_lost + lost
        self.last_lost = lost
        self._counts[transition] += 1
        if now >= self._slot_end:
            self._next_slot(now)
        self._slot[transition] += 1

    def _next_slot(self, now: float) -> None:
        self._slot = [0, 0, 0, 0]
        self._slot_end = now + self._slot_length
        slots = self._slots
        slots.append((self._slot_end, self._slot))
        horizon = now - self.window
        counts = self._counts
        while slots[0][0] <= horizon:
            for i, n in enumerate(slots.popleft()[1]):
                counts[i] -= n

    @property
    def samples(self) -> int:
        return sum(self._counts)

    @property
    def p(self) -> float:
        """P(good → bad)."""
        c = self._counts
        return (c[1] + PSEUDO) / (c[0] + c[1] + 2 * PSEUDO)

    @property
    def r(self) -> float:
        """P(bad → good)."""
        c = self._counts
        return (c[2] + 1.0) / (c[2] + c[3] + 1.0)

    @property
    def loss_rate(self) -> float:
        p, r = self.p, self.r
        return p / (p + r)

    @property
    def mean_burst(self) -> float:
        return 1.0 / self.r

    def block_loss(self, n: int, from_state: bool | None = None) -> np.ndarray:
        """P(exactly j of the next ``n`` packets are lost), j = 0..n. Starts from the
        stationary state mix unless ``from_state`` (the last packet lost or not) is given."""
        return block_loss(n, self.p, self.r, from_state)


def block_loss(n: int, p: float, r: float, from_state: bool | None = None) -> np.ndarray:
    """Loss-count distribution of ``n`` packets over a Gilbert chain (p: good→bad, r:
    bad→good; the bad state loses every packet)."""
    return LossWalk(p, r, from_state).row(n)


class LossWalk:
    """:func:`block_loss` for growing lengths: ``row(m)`` walks the chain on from the longest
    length asked so far, so an adaptive policy trying lengths ``k``, ``k + 1``, … walks it
    once, not once per length. Starts from the stationary state mix unless ``from_state``
    (the packet before the block lost or not) is given."""

    def __init__(self, p: float, r: float, from_state: bool | None = None) -> None:
        self.p, self.r = p, r
        if from_state is None:
            bad0 = p / (p + r) if p + r > 0 else 0.0
        else:             # the state of the packet *before* the block: step once into the first
            bad0 = (1 - r) if from_state else p
        # good[j] / bad[j]: P(the current packet is in that state, j losses so far)
        self._good = np.array([1.0 - bad0, 0.0])     # after the first packet
        self._bad = np.array([0.0, bad0])
        self._rows = [np.ones(1), self._good + self._bad]

    def row(self, m: int) -> np.ndarray:
        """P(exactly j of ``m`` packets lost), j = 0..m."""
        rows, p, r = self._rows, self.p, self.r
        while len(rows) <= m:
            good, bad = self._good, self._bad
            into_bad = good * p + bad * (1 - r)                     # one more loss
            self._good = np.append(good * (1 - p) + bad * r, 0.0)   # no new loss
            self._bad = np.concatenate(((0.0,), into_bad))
            rows.append(self._good + self._bad)
        return rows[m]


def combine(distributions: list[np.ndarray]) -> np.ndarray:
    """Loss-count distribution of packets spread over independent paths (a convolution)."""
    out = np.ones(1)
    for d in distributions:
        out = np.convolve(out, d)
    return out


def residual(distribution: np.ndarray, tolerable: int) -> float:
    """P(more than ``tolerable`` losses)."""
    return float(distribution[tolerable + 1:].sum())


class BurstDetector:
    """More than ``run`` consecutive losses → bad; back to good after ``clean`` s without
    another burst."""

    def __init__(self, run: int = 3, clean: float = 5.0) -> None:
        self.run = run
        self.clean = clean
        self.bad = False
        self.bursts = 0
        self._consecutive = 0
        self._last_loss: float | None = None

    def observe(self, lost: bool, now: float) -> None:
        if lost:
            self._consecutive += 1
            if self._consecutive > self.run:
                self._last_loss = now           # the last time a burst was going on
                if not self.bad:
                    self.bad = True
                    self.bursts += 1
        else:
            self._consecutive = 0
            if self.bad:
                self.update(now)

    def update(self, now: float) -> bool:
        if self.bad and self._last_loss is not None and now - self._last_loss >= self.clean:
            self.bad = False
        return self.bad
