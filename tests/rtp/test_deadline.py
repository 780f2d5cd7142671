import pytest

from strata_roq.rtp.deadline import DeadlineFilter, gap_wait


def test_age_is_relative_delay_plus_base_owd_whatever_the_clock_offset():
    f = DeadlineFilter(0.3)
    offset = 1234.5                        # receiver clock minus sender clock
    for i in range(100):                    # steady 20 ms path
        capture = i / 30
        assert f.admit(int(capture * 90000), capture + offset + 0.020, base_owd=0.020)
    capture = 100 / 30
    assert f.age(int(capture * 90000), capture + offset + 0.250, 0.020) == pytest.approx(0.250, abs=1e-4)
    assert not f.admit(int(capture * 90000), capture + offset + 0.400, 0.020)
    assert f.dropped == 1 and f.admitted == 100


def test_timestamp_wrap_and_window_follow_drift():
    f = DeadlineFilter(0.3, window=1.0)
    ts0 = (1 << 32) - 90000                # wraps after one second
    for i in range(300):
        t = i / 100
        drift = 0.01 * t                   # receiver clock runs fast: 10 ms per second
        assert f.admit((ts0 + int(t * 90000)) & 0xFFFFFFFF, t + drift)
    assert f.max_age < 0.015               # the windowed minimum tracks the drift


def test_gap_wait_never_holds_a_packet_past_its_deadline():
    # single path: the reorder window, unless the packet's own budget is shorter
    assert gap_wait(0.100, 0.300, 0.020, bonded=False) == pytest.approx(0.020)
    assert gap_wait(0.290, 0.300, 0.020, bonded=False) == pytest.approx(0.005)
    assert gap_wait(0.299, 0.300, 0.020, bonded=False) == 0.0
    # bonded: as long as the packet can still make it (a slow path may fill the gap)
    assert gap_wait(0.100, 0.300, 0.020, bonded=True) == pytest.approx(0.185)
    assert gap_wait(0.290, 0.300, 0.020, bonded=True) == pytest.approx(0.005)


def test_admit_records_the_age_it_judged():
    f = DeadlineFilter(0.3)
    assert f.admit(0, 10.0, 0.02)
    assert f.last_age == pytest.approx(0.02)
    assert f.admit(0, 10.1, 0.02)                    # same capture, 100 ms later
    assert f.last_age == pytest.approx(0.12)
