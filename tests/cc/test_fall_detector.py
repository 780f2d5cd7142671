"""A capacity fall seen within one feedback report: a busy path serving less than the media
sends is a fall; a key frame's burst on a path with room is not."""

from __future__ import annotations

import pytest

from strata_roq.cc.fall_detector import FallDetector


def _detector(media_bps: float, seconds: float = 1.0) -> FallDetector:
    d = FallDetector()
    size, t = 1200, 0.0
    while t < seconds:
        d.on_sent(size, t)
        t += size * 8 / media_bps
    return d


def _busy_run(path_bps: float, count: int, queue0: float, growth: float,
              size: int = 1200) -> list[tuple[float, float, int]]:
    """``count`` packets leaving a busy bottleneck back to back at ``path_bps``, their
    queueing delay from ``queue0`` growing by ``growth`` per packet."""
    gap = size * 8 / path_bps
    return [(10.0 + i * gap, queue0 + i * growth, size) for i in range(count)]


def test_a_busy_path_serving_less_than_the_media_sends_is_a_fall():
    d = _detector(6e6)
    served = d.on_report(_busy_run(2.5e6, 12, 0.012, 0.006))
    assert served == pytest.approx(2.5e6 / 8, rel=0.01)
    assert d.falls == 1


def test_the_newest_arrivals_measure_it():
    d = _detector(6e6)
    # the path served 8 Mbit/s, then 2.5: the report's newest 15 ms say 2.5
    before = _busy_run(8e6, 10, 0.012, 0.0005)
    end, queue = before[-1][0], before[-1][1]
    after = [(end + 0.00384 * i, queue + 0.004 * i, 1200) for i in range(1, 7)]
    assert d.on_report(before + after) == pytest.approx(2.5e6 / 8, rel=0.01)


def test_a_key_frames_burst_on_a_path_with_room_is_not_a_fall():
    d = _detector(6e6)
    # 40 kB at once into an 8 Mbit/s path: it waits, but is served at 8 Mbit/s
    assert d.on_report(_busy_run(8e6, 33, 0.011, 0.0012)) is None
    assert d.falls == 0


def test_delay_that_only_varies_is_not_a_fall():
    # A FIFO link with 50 ms of jitter: a late packet holds back the ones behind it, which
    # then arrive at once — a bunch, a gap, a bunch. Over 15 ms that reads as 0.95 Mbit/s
    # against the media's 2, but nothing was serving the packets evenly.
    d = _detector(2e6)
    report = [(10.0 + 0.030 * bunch + 0.0001 * i, 0.040 + 0.004 * i, 1200)
              for bunch in range(4) for i in range(3)]
    assert d.on_report(report) is None


def test_a_run_that_came_faster_than_the_media_is_no_fall_yet():
    # Slow and even at its end, but as a whole the run brought more than the media sends.
    d = _detector(6e6)
    fast = [(10.0 + 0.001 * i, 0.011 + 0.0002 * i, 1200) for i in range(40)]
    slow = [(fast[-1][0] + 0.005 * i, 0.020 + 0.003 * i, 1200) for i in range(1, 5)]
    assert d.on_report(fast + slow) is None


@pytest.mark.parametrize("report", [
    _busy_run(2.5e6, 12, 0.002, 0.0005),      # no queue stands: the path is not busy
    _busy_run(2.5e6, 3, 0.020, 0.004),        # too few packets to measure a rate
    [(10.0, 0.05, 1200), (10.001, 0.005, 1200)] + _busy_run(2.5e6, 3, 0.02, 0.004)[1:],
])
def test_no_rate_without_a_busy_run_long_enough(report):
    assert _detector(6e6).on_report(report) is None


def test_no_fall_before_the_media_rate_is_known():
    assert _detector(6e6, seconds=0.2).on_report(_busy_run(2.5e6, 12, 0.012, 0.006)) is None
