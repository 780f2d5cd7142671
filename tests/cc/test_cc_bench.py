"""benchmarks/cc.py's reading of the rate signal at the capacity step."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("cc")


def test_the_drop_is_timed_from_the_fall_to_the_first_real_cut(bench):
    signal = [(9.9, 10.7e6), (10.0, 10.7e6), (10.033, 10.6e6),   # a 1 % wiggle is no drop
              (10.133, 5.5e6), (10.167, 3.8e6)]
    assert bench.first_drop(signal, 10.0) == pytest.approx(0.133)
