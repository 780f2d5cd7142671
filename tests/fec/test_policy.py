import pytest

from strata_roq.fec.policy import ProtectionPolicy, adaptive_repairs, parse_table
from strata_roq.netsim.loss import GilbertElliott as Channel


def _model(loss, burst):
    c = Channel.from_rate_and_burst(loss, burst)
    return [(1.0, c.p_gb, c.p_bg)]


def test_static_spends_exactly_its_share_on_average():
    policy = ProtectionPolicy("static", overhead=0.2)
    total = sum(policy.repairs(3, "delta", []) for _ in range(1000))
    assert total == 600          # 0.6 per 3-packet block, carried over, none lost


def test_adaptive_tracks_the_channel():
    target = 1e-4
    clean = adaptive_repairs(30, _model(0.0005, 1), target)
    lossy = adaptive_repairs(30, _model(0.02, 1), target)
    bursty = adaptive_repairs(30, _model(0.02, 4), target, limit=60)
    assert clean <= 2 < lossy < bursty      # 20 % static would be 6


def test_spreading_a_block_over_paths_needs_less_repair():
    one = adaptive_repairs(30, _model(0.03, 5), 1e-3, limit=60)
    three = adaptive_repairs(30, [(1 / 3, *_model(0.03, 5)[0][1:])] * 3, 1e-3, limit=60)
    assert three < one


def test_uep_weights_classes_within_the_same_budget():
    models = _model(0.02, 1)
    equal, uep = ProtectionPolicy("adaptive"), ProtectionPolicy("uep")
    stream = ([("key", 60)] + [("delta", 10)] * 59 + [("audio", 5)] * 100) * 5
    spent = {"equal": {}, "uep": {}}
    for cls, k in stream:
        for name, policy in (("equal", equal), ("uep", uep)):
            spent[name][cls] = spent[name].get(cls, 0) + policy.repairs(k, cls, models)
    assert spent["uep"]["key"] > 1.5 * spent["equal"]["key"]
    assert spent["uep"]["delta"] < spent["equal"]["delta"]
    total_equal, total_uep = sum(spent["equal"].values()), sum(spent["uep"].values())
    assert abs(total_uep - total_equal) <= 0.1 * total_equal


def test_burst_doubles_and_headroom_caps():
    policy = ProtectionPolicy("adaptive", max_overhead=1.0)
    models = _model(0.02, 1)
    base = policy.repairs(30, "delta", models)
    assert policy.repairs(30, "delta", models, burst=True) == 2 * base
    assert policy.repairs(30, "delta", models, burst=True, headroom=0.1) == 3


def test_off_and_xor_plan_no_block_repair():
    assert ProtectionPolicy("off").repairs(30, "key", _model(0.1, 1)) == 0
    assert ProtectionPolicy("xor").repairs(30, "key", _model(0.1, 1)) == 0


def test_table_parsing():
    assert parse_table("key=4, delta=0.5")["key"] == 4.0
    with pytest.raises(ValueError, match="unknown FEC class 'bframe'"):
        parse_table("bframe=2")
    with pytest.raises(ValueError, match="not a number"):
        parse_table("key=lots")


def _exact_repairs(k, models, target, limit):
    """The residual-loss search, walked afresh for every length with the exact estimates."""
    import numpy as np

    from strata_roq.fec.gilbert import block_loss, combine
    for r in range(limit + 1):
        n = k + r
        parts = [block_loss(round(share * n), p, rr) for share, p, rr in models
                 if round(share * n)]
        dist = combine(parts)
        j = np.arange(len(dist))
        if (dist[r + 1:] * j[r + 1:]).sum() / n <= target:
            return r
    return limit


@pytest.mark.parametrize("loss,burst", [(0.001, 1), (0.01, 1), (0.02, 3), (0.05, 2), (0.1, 6)])
def test_the_cached_grid_never_plans_less_repair_than_the_exact_estimate(loss, burst):
    for k in (5, 30, 59):
        for models in (_model(loss, burst), [(0.5, *_model(loss, burst)[0][1:]),
                                             (0.5, *_model(loss / 2, 1)[0][1:])]):
            exact = _exact_repairs(k, models, 1e-4, 2 * k)
            planned = adaptive_repairs(k, models, 1e-4, limit=2 * k)
            assert exact <= planned <= exact + max(2, exact // 5)
