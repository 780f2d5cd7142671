"""LayerPolicy: drop at once when the media exceeds the safe rate, take back after a hold."""

from strata_roq.cc.layer_policy import LayerPolicy


def feed(policy, rate_bps, start, end, step=0.01):
    t = start
    while t < end:
        policy.on_media(int(rate_bps * step / 8), t)
        t += step
    return t


def test_measures_the_media_rate_over_its_window():
    policy = LayerPolicy(window=1.0)
    t = feed(policy, 3e6, 0.0, 2.0)
    assert abs(policy.media_bps(t) - 3e6) < 0.05 * 3e6
    t = feed(policy, 1e6, t, t + 1.5)
    assert abs(policy.media_bps(t) - 1e6) < 0.05 * 1e6


def test_drops_at_once_and_comes_back_only_after_the_hold():
    policy = LayerPolicy(window=1.0, hold=2.0)
    t = feed(policy, 3e6, 0.0, 1.5)
    assert policy.update(4e6, t) is False           # fits
    assert policy.update(2.4e6, t) is True          # the path fell under the media: at once
    t = feed(policy, 3e6, t, t + 1.0)
    assert policy.update(3.2e6, t) is True          # fits again, but not for long enough
    t = feed(policy, 3e6, t, t + 1.0)
    assert policy.update(2.9e6, t) is True          # a dip restarts the hold
    t = feed(policy, 3e6, t, t + 1.5)
    assert policy.update(3.2e6, t) is True
    t = feed(policy, 3e6, t, t + 2.01)
    assert policy.update(3.2e6, t) is False         # 2 s of fitting: the layer comes back
    assert policy.switches == 2
    assert 5.0 < policy.stats(t)["seconds_dropping"] < 6.2


def test_no_decision_before_a_window_of_media_was_seen():
    policy = LayerPolicy(window=1.0)
    t = feed(policy, 3e6, 0.0, 0.3)
    assert policy.update(1e6, t) is False


def test_a_media_rate_within_the_measurements_noise_of_the_estimate_is_kept():
    policy = LayerPolicy(window=1.0, tolerance=0.05)
    t = feed(policy, 3e6, 0.0, 1.5)
    assert policy.update(2.9e6, t) is False         # 3 % over: a key frame in the window
    assert policy.update(2.8e6, t) is True          # 7 % over: it does not fit
