import math
import random

import numpy as np

from strata_roq.fec.gilbert import BurstDetector, GilbertElliott, block_loss, combine
from strata_roq.netsim.loss import GilbertElliott as Channel


def _feed(estimator, channel, n, rng, spacing=1e-4):
    for i in range(n):
        estimator.observe(channel.lost(rng), i * spacing)


def test_estimate_converges_to_the_channel():
    rng = random.Random(7)
    channel = Channel.from_rate_and_burst(0.05, 4.0)
    g = GilbertElliott()
    _feed(g, channel, 40000, rng)
    assert abs(g.loss_rate - 0.05) < 0.01
    assert abs(g.mean_burst - 4.0) < 0.5


def test_window_forgets_old_feedback():
    g = GilbertElliott(window=5.0)
    for i in range(1000):
        g.observe(i % 2 == 0, i * 0.001)          # 50 % loss, long ago
    for i in range(1000):
        g.observe(False, 10.0 + i * 0.001)        # clean now
    assert g.samples == 1000 and g.loss_rate < 0.002


def test_clean_window_still_predicts_a_little_loss():
    g = GilbertElliott()
    for i in range(2000):
        g.observe(False, i * 0.001)
    assert 0 < g.loss_rate < 1e-3 and g.mean_burst == 1.0


def test_block_loss_is_a_distribution_with_the_chains_mean():
    p, r = 0.02, 0.25
    dist = block_loss(40, p, r)
    assert len(dist) == 41 and math.isclose(dist.sum(), 1.0, rel_tol=1e-9)
    assert math.isclose((dist * np.arange(41)).sum(), 40 * p / (p + r), rel_tol=1e-6)


def test_block_loss_without_memory_is_binomial():
    q = 0.1
    dist = block_loss(12, q, 1 - q)          # p + r = 1: no memory
    binom = [math.comb(12, j) * q ** j * (1 - q) ** (12 - j) for j in range(13)]
    assert np.allclose(dist, binom)


def test_block_loss_matches_monte_carlo_of_the_channel():
    rng = random.Random(3)
    channel = Channel.from_rate_and_burst(0.05, 3.0)
    n, trials = 20, 40000
    counts = np.zeros(n + 1)
    channel.bad = rng.random() < channel.mean_loss   # start from the stationary mix
    for _ in range(trials):
        counts[sum(channel.lost(rng) for _ in range(n))] += 1
    dist = block_loss(n, channel.p_gb, channel.p_bg)
    assert abs(counts[0] / trials - dist[0]) < 0.01
    assert abs(counts[3:].sum() / trials - dist[3:].sum()) < 0.01


def test_paths_combine_by_convolution():
    a, b = block_loss(5, 0.1, 0.9), block_loss(7, 0.2, 0.8)
    both = combine([a, b])
    assert len(both) == 13 and math.isclose(both.sum(), 1.0)
    assert math.isclose(both[0], a[0] * b[0])


def test_burst_detector_bad_after_four_in_a_row_and_back_after_five_clean_seconds():
    d = BurstDetector()
    for t in range(3):
        d.observe(True, t * 0.01)
    assert not d.bad                      # three in a row is not a burst yet
    d.observe(True, 0.03)
    assert d.bad and d.bursts == 1
    d.observe(False, 1.0)
    d.observe(True, 2.0)                  # an isolated loss does not keep it bad
    d.observe(False, 2.1)
    assert d.update(5.0)                  # < 5 s since the burst
    assert not d.update(5.1)


def test_a_loss_walk_gives_every_lengths_distribution():
    from strata_roq.fec.gilbert import LossWalk
    for p, r in ((0.02, 0.25), (0.1, 0.9), (0.0, 1.0), (0.3, 0.05)):
        walk = LossWalk(p, r)
        for m in (5, 3, 30, 0, 17, 1):              # in any order, extending as it goes
            row = walk.row(m)
            assert len(row) == m + 1 and math.isclose(row.sum(), 1.0, rel_tol=1e-9)
            assert math.isclose((row * np.arange(m + 1)).sum(), m * p / (p + r),
                                rel_tol=1e-9, abs_tol=1e-12)   # the chain's stationary mean
    q = 0.1
    row = LossWalk(q, 1 - q).row(12)                # p + r = 1: no memory, binomial
    assert np.allclose(row, [math.comb(12, j) * q ** j * (1 - q) ** (12 - j) for j in range(13)])


def test_memory_is_bounded_by_the_window_not_the_packet_rate():
    g = GilbertElliott(window=5.0, slot=0.1)
    for i in range(100_000):                      # 20,000 packets a second for 5 s
        g.observe(i % 97 == 0, i * 5e-5)
    assert len(g._slots) <= 51                    # noqa: SLF001 - what it keeps
    assert g.samples == 100_000 and abs(g.loss_rate - 1 / 97) < 2e-3
    for i in range(1000):
        g.observe(False, 20.0 + i * 1e-3)          # 15 s later: the old slots are gone
    assert g.samples == 1000 and len(g._slots) <= 11  # noqa: SLF001
