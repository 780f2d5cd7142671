import pytest

from strata_roq.rtp.deadline import DeadlineFilter, gap_wait, release_on_time


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


def _steady(f: DeadlineFilter, sender_at, transit: float, n: int = 50) -> None:
    """``n`` packets, one per 10 ms, each ``transit`` seconds from the sender's arrival
    (its RTP time: our monotonic clock at 90 kHz, as the sender stamps) to us."""
    for i in range(n):
        t = sender_at + i / 100
        assert f.admit(int(t * 90000), t + transit, base_owd=0.020)


def test_a_sender_report_on_our_clock_counts_the_processing_min_rtt_misses():
    # The fastest packet takes 23 ms: 20 ms of path (min RTT / 2) and 3 ms inside the two
    # processes, which the relative estimate takes for zero.
    relative, synced = DeadlineFilter(0.3), DeadlineFilter(0.3)
    wall = 1_800_000_000.0                 # Unix time minus the monotonic clock, one machine
    for f in (relative, synced):
        _steady(f, 100.0, 0.023)
    synced.sync(int(100.5 * 90000), 100.5 + wall, now=100.6, wall=100.6 + wall)
    t = 101.0                              # a packet 302 ms after it reached the sender
    assert relative.admit(int(t * 90000), t + 0.302, 0.020)      # 299 ms by its estimate
    assert not synced.admit(int(t * 90000), t + 0.302, 0.020)    # 302 ms: late
    assert synced.last_age == pytest.approx(0.302, abs=1e-4)
    assert synced.clock_bias == pytest.approx(0.003, abs=1e-4)
    assert synced.reports_untrusted == 0


def test_a_sender_report_from_another_clock_is_not_trusted():
    f = DeadlineFilter(0.3)
    _steady(f, 100.0, 0.023)
    wall = 1_800_000_000.0
    # the sender's wall clock is 4 s behind ours: its packets would look 4 s old
    f.sync(int(100.5 * 90000), 100.5 + wall - 4.0, now=100.5, wall=100.5 + wall)
    t = 101.0
    assert f.admit(int(t * 90000), t + 0.100, 0.020)
    assert f.last_age == pytest.approx(0.097, abs=1e-4)        # the relative estimate
    assert f.reports_untrusted == 1 and f.clock_bias is None


def test_a_sender_clock_ahead_of_ours_never_makes_a_packet_younger():
    f = DeadlineFilter(0.3)
    _steady(f, 100.0, 0.023)
    wall = 1_800_000_000.0
    f.sync(int(100.5 * 90000), 100.5 + wall + 0.050, now=100.5, wall=100.5 + wall)
    t = 101.0
    assert not f.admit(int(t * 90000), t + 0.305, 0.020)       # 302 ms relative: late
    assert f.last_age == pytest.approx(0.302, abs=1e-4)


def test_a_packet_admitted_in_time_can_be_found_late_at_its_release():
    """The receiver judges a packet again when it hands it on (a hold behind a gap that a
    busy event loop releases late): :meth:`late` uses the same age, and judging changes
    nothing — the window, the clock and the counters stay as admission left them."""
    relative, synced = DeadlineFilter(0.3), DeadlineFilter(0.3)
    wall = 1_800_000_000.0
    for f in (relative, synced):
        _steady(f, 100.0, 0.023)
    synced.sync(int(100.5 * 90000), 100.5 + wall, now=100.6, wall=100.6 + wall)
    t = 101.0
    for f in (relative, synced):
        assert f.admit(int(t * 90000), t + 0.250, 0.020)       # 250 ms old when it came
        before = (list(f._mins._q), f._low, f.admitted, f.dropped, f.max_age, f.last_age)
        assert not f.late(int(t * 90000), t + 0.295, 0.020)    # handed on at 295 ms
        assert f.late(int(t * 90000), t + 0.320, 0.020)        # ... or at 320: too late
        assert (list(f._mins._q), f._low, f.admitted, f.dropped, f.max_age, f.last_age) == before
    # by the sender's clock the packet is 3 ms older than the relative estimate says
    assert not relative.late(int(t * 90000), t + 0.302, 0.020)
    assert synced.late(int(t * 90000), t + 0.302, 0.020)
    assert not DeadlineFilter(0.3).late(0, 5.0)      # nothing admitted yet: no judgement


def test_a_sender_report_read_late_does_not_make_packets_younger():
    """A sender that lost the CPU between reading the RTP time and its wall clock reports a
    later origin: its packets would look as much younger. The earliest origin of the window
    counts, so a later, skewed report changes nothing."""
    f = DeadlineFilter(0.3)
    _steady(f, 100.0, 0.023)
    wall = 1_800_000_000.0
    f.sync(int(100.5 * 90000), 100.5 + wall, now=100.6, wall=100.6 + wall)
    # the next report's wall clock was read 20 ms after the RTP time it gives
    f.sync(int(101.0 * 90000), 101.0 + wall + 0.020, now=101.1, wall=101.1 + wall)
    t = 101.2
    assert not f.admit(int(t * 90000), t + 0.302, 0.020)        # 302 ms old: late
    assert f.last_age == pytest.approx(0.302, abs=1e-4)
    assert f.late(int(t * 90000), t + 0.302, 0.020)


def test_a_skewed_first_report_gives_way_to_an_accurate_one():
    f = DeadlineFilter(0.3)
    _steady(f, 100.0, 0.023)
    wall = 1_800_000_000.0
    f.sync(int(100.5 * 90000), 100.5 + wall + 0.015, now=100.6, wall=100.6 + wall)
    f.sync(int(101.0 * 90000), 101.0 + wall, now=101.1, wall=101.1 + wall)
    t = 101.2
    assert not f.admit(int(t * 90000), t + 0.302, 0.020)
    assert f.last_age == pytest.approx(0.302, abs=1e-4)


def test_each_packet_is_judged_again_just_before_it_goes():
    """A batch released together: the first send loses the CPU for 20 ms (a local reader
    woken by it runs on our core). The packets after it are judged by the clock after that
    stall, so one that was in time when the batch started but not when its turn came is
    dropped, not handed on 20 ms late; the stall is reported."""
    f = DeadlineFilter(0.3)
    _steady(f, 100.0, 0.023)
    t = 101.0
    old, young = int(t * 90000), int((t + 0.030) * 90000)
    assert f.admit(old, t + 0.250, 0.020) and f.admit(young, t + 0.251, 0.020)
    clock = {"now": t + 0.290}     # the release: `old` 287 ms old (23 ms path, 20 ms base)
    sent = []

    def send(data: bytes) -> None:
        sent.append(data)
        clock["now"] += 0.020           # this send stalled

    packets = [bytes(4) + ts.to_bytes(4, "big") + bytes(4) for ts in (old, old, young)]
    r = release_on_time(packets, f, 0.020, lambda: clock["now"], send)
    # by its turn the second `old` was 307 ms old; `young`, 30 ms younger, still in time
    assert sent == [packets[0], packets[2]]
    assert (r.sent, r.late) == (2, 1)
    assert r.oldest == pytest.approx(0.287, abs=1e-4)
    assert r.stall == pytest.approx(0.020, abs=1e-9)
    empty = release_on_time([], f, 0.020, lambda: clock["now"], send)
    assert (empty.sent, empty.late, empty.oldest, empty.stall) == (0, 0, 0.0, 0.0)
