import random

import pytest

from strata_roq.errors import UsageError
from strata_roq.netsim.loss import BernoulliLoss, GilbertElliott, NoLoss, make_loss


def _runs(model, n=200_000, seed=3):
    rng = random.Random(seed)
    lost = [model.lost(rng) for _ in range(n)]
    bursts, run = [], 0
    for x in lost:
        if x:
            run += 1
        elif run:
            bursts.append(run)
            run = 0
    return sum(lost) / n, sum(bursts) / max(len(bursts), 1)


def test_bernoulli_rate_and_short_bursts():
    rate, burst = _runs(BernoulliLoss(0.05))
    assert rate == pytest.approx(0.05, rel=0.05) and burst < 1.1


def test_gilbert_elliott_hits_rate_and_mean_burst():
    model = GilbertElliott.from_rate_and_burst(0.02, 5)
    assert model.mean_loss == pytest.approx(0.02)
    rate, burst = _runs(model)
    assert rate == pytest.approx(0.02, rel=0.12) and burst == pytest.approx(5, rel=0.12)


def test_make_loss_parses_and_rejects():
    assert isinstance(make_loss("0%"), NoLoss)
    assert isinstance(make_loss("2%"), BernoulliLoss)
    assert isinstance(make_loss("2%", 5), GilbertElliott)
    with pytest.raises(UsageError):
        make_loss("150%")
    with pytest.raises(UsageError):
        GilbertElliott.from_rate_and_burst(0.02, 0.5)
