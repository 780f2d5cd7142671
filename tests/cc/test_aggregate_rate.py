"""AggregateRate: the bonded encoder rate is the live paths' sum less the bonding overhead."""

from strata_roq.cc.aggregate_rate import AggregateRate


def _run(agg, rates, media_bps, start, end, alive):
    """Each path sends at its rate with 20 ms one way and no queue; CCFB every 100 ms."""
    size = 1200
    t, seqs, pending = start, [0] * len(rates), [[] for _ in rates]
    next_at = [start] * len(rates)
    next_media, next_report = start, start + 0.1
    step = 0.001
    while t < end:
        for i, r in enumerate(rates):
            while next_at[i] <= t:
                agg.on_sent(i, seqs[i], size, next_at[i])
                pending[i].append((seqs[i], next_at[i] + 0.02))
                seqs[i] += 1
                next_at[i] += size * 8 / r
        while next_media <= t:
            agg.on_media(size, next_media)
            next_media += size * 8 / media_bps
        if t >= next_report:
            for i in range(len(rates)):
                if alive[i]:
                    agg.on_feedback(i, [(s, a) for s, a in pending[i] if a <= t], t)
                pending[i] = [(s, a) for s, a in pending[i] if a > t]
            agg.update(alive, t)
            next_report += 0.1
        t += step
    return t


def test_the_sum_of_the_paths_less_the_redundancy():
    agg = AggregateRate(2, 2e6, max_bps=20e6)
    # 2.5 Mbit/s of media becomes 3 on the wire (1.2 and 1.8): 20 % redundancy
    _run(agg, [1.2e6, 1.8e6], 2.5e6, 0.0, 8.0, [True, True])
    assert abs(agg.overhead - 1.2) < 0.03
    # app-limited: each path may be asked for 1.5 x what it delivered; the encoder gets
    # that sum divided by the overhead
    assert 3.2e6 < agg.instant_bps / agg.overhead < 4.0e6
    assert 3.0e6 < agg.rate_bps <= agg.instant_bps / agg.overhead * 1.01


def test_a_dead_path_leaves_the_sum_at_once():
    agg = AggregateRate(2, 2e6, max_bps=20e6)
    t = _run(agg, [1.2e6, 1.8e6], 2.5e6, 0.0, 6.0, [True, True])
    before = agg.rate_bps
    _run(agg, [1.2e6, 1.8e6], 2.5e6, t, t + 0.25, [True, False])
    assert agg.rate_bps < 0.5 * before       # only the 1.2 Mbit/s path counts now


def test_poll_repeats_and_reports_changes():
    agg = AggregateRate(2, 2e6)
    assert agg.poll(0.0) == 2_000_000
    assert agg.poll(0.1) is None and agg.poll(0.3) == 2_000_000


def test_an_idle_path_counts_with_its_measured_capacity_until_it_queues():
    agg = AggregateRate(2, 2e6, max_bps=20e6)
    # the scheduler keeps path 1 nearly idle (a trickle), though it measured 3 Mbit/s on it
    t = _run(agg, [2.0e6, 0.05e6], 2.05e6, 0.0, 6.0, [True, True])
    own = agg.instant_bps                    # what the two estimators alone believe
    agg.update([True, True], t, capacity=[2.0e6, 3.0e6])
    assert agg.instant_bps >= own - agg.paths[1].instant_bps + 0.9 * 3.0e6
    # a standing queue on that path: its measured capacity no longer counts
    agg.paths[1].controller.standing_queue = 0.05
    agg.update([True, True], t, capacity=[2.0e6, 3.0e6])
    assert agg.instant_bps == own
