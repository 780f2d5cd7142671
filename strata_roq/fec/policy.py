"""How much repair a block gets: static, adaptive (Gilbert-Elliott prediction against a
residual-loss target), unequal (a table of class weights within the same budget), doubled
while a burst detector says a path is bad.

Fractions of a repair packet are carried over between blocks of a class (a static 20 % on
3-packet blocks sends one repair every ~5 blocks, not one per block), so each mode spends
what it says on average.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from strata_roq.fec.gilbert import LossWalk, combine

MODES = ("off", "static", "adaptive", "uep", "xor")
#: Packet classes the policy table knows; a frame's class comes from its kind.
CLASSES = ("key", "audio", "psi", "delta")
DEFAULT_WEIGHTS = {"key": 3.0, "audio": 2.0, "psi": 3.0, "delta": 1.0}


def parse_table(text: str) -> dict[str, float]:
    """``key=3,audio=2,delta=1`` → weights (classes not named keep their defaults)."""
    table = dict(DEFAULT_WEIGHTS)
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, value = item.partition("=")
        if name not in CLASSES:
            raise ValueError(f"unknown FEC class {name!r} (one of {', '.join(CLASSES)})")
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"FEC weight for {name!r} is not a number: {value!r}") from None
        if weight < 0:
            raise ValueError(f"FEC weight for {name!r} must be ≥ 0")
        table[name] = weight
    return table


def fec_headroom(backlog: float, most: float, full_at: float = 0.1) -> float:
    """Room for repair as a fraction of the media: all of ``most`` while nothing waits at the
    sender, shrinking to a tenth of it as the sender's backlog reaches ``full_at`` seconds."""
    return most * min(1.0, max(0.1, 1.0 - backlog / full_at))


GRID_STEPS = 16          # grid points per decade of the cached channel parameters p and r


def adaptive_repairs(k: int, models: list[tuple[float, float, float]], target: float,
                     limit: int | None = None) -> int:
    """See :func:`_adaptive`; the channel parameters are put on a grid so the answer is
    cached (blocks close many times a second and the estimates move slowly): shares to 5 %,
    ``p`` rounded *up* and ``r`` *down* to a step of 1/16 decade (≤ 16 %), so the grid
    never predicts less loss, or shorter bursts, than the estimate."""
    key = tuple(sorted((round(share * 20) / 20, _grid(p, math.ceil), _grid(r, math.floor))
                       for share, p, r in models))
    return _adaptive(k, key, target, limit if limit is not None else 2 * k + 4)


def _grid(x: float, rounding) -> float:
    if x <= 0.0:
        return 0.0
    return min(1.0, 10.0 ** (rounding(math.log10(x) * GRID_STEPS) / GRID_STEPS))


@lru_cache(maxsize=4096)
def _adaptive(k: int, models: tuple, target: float, limit: int) -> int:
    """Fewest repair packets for a block of ``k`` whose expected residual loss — source
    packets still missing after decoding, per source packet — is ≤ ``target``. A block with
    ``j`` > ``r`` losses among its ``n = k + r`` symbols cannot be decoded and keeps about
    ``j·k/n`` of its sources missing. ``models``: (share of the block's packets, p, r) per
    path carrying it; each path's chain is walked once for every length tried."""
    walks = [(share, LossWalk(p, rr)) for share, p, rr in models]
    for r in range(limit + 1):
        n = k + r
        parts = []
        for share, walk in walks:
            m = int(round(share * n))
            if m:
                parts.append(walk.row(m))
        dist = combine(parts) if parts else np.ones(1)
        tail = dist[r + 1:]
        unrecovered = float(tail @ np.arange(r + 1, r + 1 + len(tail))) / n  # per source
        if unrecovered <= target:
            return r
    return limit


@dataclass
class ProtectionPolicy:
    """Repair counts per block. ``mode``: static (``overhead`` of every block), adaptive
    (meet ``target``), uep (adaptive's budget, redistributed by the class ``weights``)."""

    mode: str = "adaptive"
    overhead: float = 0.20
    target: float = 1e-4
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    _carry: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    _weighted: float = 0.0        # Σ weight × packets seen (UEP's normaliser)
    _packets: float = 0.0

    max_overhead: float = 0.5     # adaptive/uep never add more than this × k

    def repairs(self, k: int, cls: str, models: list[tuple[float, float, float]],
                burst: bool = False, headroom: float | None = None,
                packet_bytes: float = 1.0) -> int:
        """Repair packets for a block of ``k`` of class ``cls``. ``models``: (share, p, r)
        of the paths carrying it; ``burst``: a burst detector says bad (doubles it);
        ``headroom``: spare capacity as a fraction of the media rate — adaptive modes never
        plan more repair than the paths have room for (FEC must not cause the congestion
        it then has to repair). ``packet_bytes``: the block's mean packet size — UEP
        balances bytes, not packets (many small audio packets must not tip the scale)."""
        if self.mode in ("off", "xor") or k <= 0:
            return 0
        if self.mode == "static":
            want = self.overhead * k
        else:
            want = float(adaptive_repairs(k, models, self.target,
                                          limit=int(self.max_overhead * k) + 1))
            if self.mode == "uep":
                weight = self.weights.get(cls, 1.0)
                # running byte-weighted mean weight, so Σ repair bytes match equal protection
                self._weighted = self._weighted * 0.999 + weight * k * packet_bytes
                self._packets = self._packets * 0.999 + k * packet_bytes
                want *= weight / (self._weighted / self._packets)
        if burst:
            want *= 2
        if self.mode != "static":
            cap = self.max_overhead if headroom is None else min(self.max_overhead, headroom)
            want = min(want, max(cap, 0.0) * k * (self.weights.get(cls, 1.0)
                                                  if self.mode == "uep" else 1.0))
        want += self._carry[cls]
        count = int(want)
        self._carry[cls] = want - count
        return count
