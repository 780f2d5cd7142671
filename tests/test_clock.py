import time

import pytest

from strata_roq.clock import Clock, RealClock, VirtualClock, wall_offset


def test_real_clock_is_monotonic_and_a_clock():
    clock = RealClock()
    assert isinstance(clock, Clock)
    a = clock.now()
    b = clock.now()
    assert b >= a
    assert abs(a - time.monotonic()) < 1.0


def test_virtual_clock_moves_only_when_told():
    clock = VirtualClock(start=5.0)
    assert isinstance(clock, Clock)
    assert clock.now() == 5.0
    clock.advance(0.25)
    assert clock.now() == 5.25
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.advance_to(1.0)


def test_timers_fire_in_order_at_their_time():
    clock = VirtualClock()
    fired = []
    clock.call_at(2.0, lambda: fired.append(("b", clock.now())))
    clock.call_at(1.0, lambda: fired.append(("a", clock.now())))
    clock.call_at(2.0, lambda: fired.append(("c", clock.now())))
    assert clock.advance(1.5) == 1
    assert fired == [("a", 1.0)]
    assert clock.now() == 1.5
    clock.advance_to(3.0)
    assert fired == [("a", 1.0), ("b", 2.0), ("c", 2.0)]
    assert clock.now() == 3.0


def test_cancelled_timer_never_fires_and_next_timer_skips_it():
    clock = VirtualClock()
    fired = []
    handle = clock.call_later(1.0, lambda: fired.append(1))
    clock.call_later(2.0, lambda: fired.append(2))
    handle.cancel()
    assert clock.next_timer() == 2.0
    assert clock.advance_to_next_timer()
    assert fired == [2] and clock.now() == 2.0
    assert not clock.advance_to_next_timer()
    assert clock.now() == 2.0


def test_callbacks_may_schedule_more_timers_within_the_same_advance():
    clock = VirtualClock()
    ticks = []

    def tick():
        ticks.append(clock.now())
        if len(ticks) < 5:
            clock.call_later(0.1, tick)

    clock.call_at(0.0, tick)
    clock.advance(0.45)
    assert ticks == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_run_until_stops_at_the_horizon():
    clock = VirtualClock()
    fired = []
    for t in (1, 2, 3):
        clock.call_at(t, lambda t=t: fired.append(t))
    clock.run(until=2.5)
    assert fired == [1, 2] and clock.now() == 2.5
    clock.run()
    assert fired == [1, 2, 3] and clock.now() == 3.0


def test_timer_in_the_past_fires_now_not_before():
    clock = VirtualClock(start=10.0)
    seen = []
    clock.call_at(3.0, lambda: seen.append(clock.now()))
    clock.advance(0)
    assert seen == [10.0]


def test_wall_offset_pairs_readings_taken_together():
    """A reading pair split by a lost CPU (20 ms between the two clocks) is not used: the
    wall clock is read between two readings of the other, and the tightest try counts."""
    mono = iter([10.0, 10.020,                # try 1: 20 ms between the readings
                 10.030, 10.03001])           # try 2: 10 µs
    walls = iter([1000.0, 1000.030005])
    offset = wall_offset(read=lambda: next(mono), wall=lambda: next(walls))
    assert offset == pytest.approx(1000.030005 - 10.030005, abs=1e-9)
    assert abs(wall_offset() - (time.time() - time.monotonic())) < 0.01
