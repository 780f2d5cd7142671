"""Packet loss models for the link emulator: independent (Bernoulli) and bursty
(two-state Gilbert-Elliott), driven by a caller-supplied ``random.Random`` so runs repeat."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from strata_roq.errors import UsageError
from strata_roq.units import parse_percent


class LossModel(Protocol):
    def lost(self, rng: random.Random) -> bool: ...


@dataclass(slots=True)
class NoLoss:
    def lost(self, rng: random.Random) -> bool:
        return False


@dataclass(slots=True)
class BernoulliLoss:
    rate: float

    def lost(self, rng: random.Random) -> bool:
        return rng.random() < self.rate


@dataclass(slots=True)
class GilbertElliott:
    """Good/bad Markov chain; each packet first moves the chain, then is lost with the
    state's loss probability. Mean burst (in the bad state) = 1 / p_bg."""

    p_gb: float                 # P(good -> bad) per packet
    p_bg: float                 # P(bad -> good) per packet
    loss_good: float = 0.0
    loss_bad: float = 1.0
    bad: bool = False

    @classmethod
    def from_rate_and_burst(cls, rate: float, mean_burst: float) -> "GilbertElliott":
        """A chain losing ``rate`` of packets in bursts of ``mean_burst`` on average."""
        if not 0.0 <= rate < 1.0 or mean_burst < 1.0:
            raise UsageError(f"Gilbert-Elliott needs 0 <= loss < 100% and mean burst >= 1, "
                             f"got {rate:.2%} and {mean_burst}")
        p_bg = 1.0 / mean_burst
        return cls(rate * p_bg / (1.0 - rate), p_bg)

    @property
    def mean_loss(self) -> float:
        bad = self.p_gb / (self.p_gb + self.p_bg) if self.p_gb + self.p_bg else 0.0
        return bad * self.loss_bad + (1 - bad) * self.loss_good

    def lost(self, rng: random.Random) -> bool:
        if self.bad:
            self.bad = rng.random() >= self.p_bg
        else:
            self.bad = rng.random() < self.p_gb
        return rng.random() < (self.loss_bad if self.bad else self.loss_good)


def make_loss(rate: str | float | None, burst: float | None = None) -> LossModel:
    """``--loss 2%`` alone is random loss; with ``--burst 5`` it is Gilbert-Elliott."""
    if rate is None:
        return NoLoss()
    value = parse_percent(rate, "loss") if isinstance(rate, str) else float(rate)
    if value == 0:
        return NoLoss()
    if burst is not None and burst > 1:
        return GilbertElliott.from_rate_and_burst(value, burst)
    return BernoulliLoss(value)
