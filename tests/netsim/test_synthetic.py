from strata_roq.netsim.synthetic import random_walk_rates, write_mahimahi
from strata_roq.netsim.trace import read_mahimahi


def test_random_walk_is_bounded_and_repeatable():
    a = random_walk_rates(60, 3e6, 9e6, seed=4)
    assert a == random_walk_rates(60, 3e6, 9e6, seed=4)
    assert len(a) == 600 and all(1.5e6 <= r <= 9e6 for r in a)
    assert a != random_walk_rates(60, 3e6, 9e6, seed=5)


def test_written_trace_carries_the_rates(tmp_path):
    rates = [4e6] * 50 + [8e6] * 50          # 5 s at 4 Mbit/s, 5 s at 8
    path = tmp_path / "lte.up"
    write_mahimahi(rates, str(path))
    trace = read_mahimahi(str(path))
    assert abs(trace.mean_rate - 6e6) / 6e6 < 0.02
