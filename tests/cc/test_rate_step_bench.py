"""benchmarks/rate_step_real.py's stall measure: a picture is held beyond its source spacing
only by what the chain added — the encoder's own cadence (a key frame leaving late) is not a
stall when the output reproduces it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("rate_step_real")


def test_the_sources_own_cadence_is_not_a_stall(bench):
    src = [[0, 3.0], [1, 3.1], [2, 12.0], [3, 3.2]]     # frame 2 took 9 ms longer to encode
    out = [[i, ms + 320.0] for i, ms in src]            # played out with the same timing
    assert bench.added_hold(out, src) == pytest.approx(0.0)


def test_a_picture_held_longer_than_its_source_spacing_is(bench):
    src = [[0, 3.0], [1, 3.1], [2, 3.0], [3, 3.2]]
    out = [[0, 320.0], [1, 320.0], [2, 360.0], [3, 321.0]]   # frame 2 came 40 ms late
    assert bench.added_hold(out, src) == pytest.approx(40.1)   # 40 + the source's 0.1 ahead


def test_pictures_the_source_probe_missed_are_left_out(bench):
    src = [[0, 3.0], [2, 3.0]]
    out = [[0, 320.0], [1, 500.0], [2, 321.0]]
    assert bench.added_hold(out, src) == pytest.approx(1.0)


def test_a_broken_picture_counts_once(bench):
    # 9 pictures arrived damaged; with the 9 predicted from them the chain counts 18
    assert bench.broken({"damaged": 9, "reference_missing": 18}) == 18
    # not H.264: no chain, the damaged ones are all it knows
    assert bench.broken({"damaged": 3, "reference_missing": 0}) == 3
