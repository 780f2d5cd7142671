import pytest

from strata_roq.errors import UsageError
from strata_roq.multipath.path import Path
from strata_roq.sched import SCHEDULERS, make_scheduler
from strata_roq.sched.base import SchedPacket


def _path(i, rtt, rate_mbps, loss=0.0, name=None):
    p = Path(name or f"p{i}", index=i)
    p.srtt, p.min_rtt, p.rttvar = rtt, rtt, 0.002
    p.delivery_rate = rate_mbps * 1e6 / 8
    p.rate_floor = 1.0
    p.loss.good, p.loss.good_to_bad = 100.0, 100.0 * loss
    p.loss.bad, p.loss.bad_to_good = 1.0, 1.0
    return p


def _packet(seq=0, deadline=10.0, reliable=False, priority=3):
    return SchedPacket(seq, 1300, 0, deadline, priority, reliable)


def test_registry_and_unknown_name():
    assert set(SCHEDULERS) == {"storm", "dwrr", "minrtt", "blest", "ldmp", "redundant", "dynamic"}
    with pytest.raises(UsageError):
        make_scheduler("fastest")


def test_minrtt_and_redundant():
    paths = [_path(0, 0.08, 10), _path(1, 0.02, 10), _path(2, 0.05, 10)]
    assert make_scheduler("minrtt").choose(_packet(), paths, [0, 0, 0], 0).paths == [1]
    assert make_scheduler("minrtt").choose(_packet(), paths, [0, 10**6, 0], 0).paths == [2]
    assert make_scheduler("redundant").choose(_packet(), paths, [0, 0, 0], 0).paths == [0, 1, 2]
    paths[0].alive = False
    assert make_scheduler("redundant").choose(_packet(), paths, [0, 0, 0], 0).paths == [1, 2]


def test_dwrr_shares_by_delivery_rate():
    paths = [_path(0, 0.02, 30), _path(1, 0.02, 10)]
    s = make_scheduler("dwrr")
    picks = [s.choose(_packet(k), paths, [0, 0], 0).paths[0] for k in range(400)]
    assert picks.count(0) == 300 and picks.count(1) == 100


def test_dynamic_duplicates_only_while_lossy():
    paths = [_path(0, 0.02, 10), _path(1, 0.04, 10)]
    s = make_scheduler("dynamic")
    assert s.choose(_packet(), paths, [0, 0], 0).paths == [0]
    paths[1].loss.good_to_bad = 5.0                     # 5 % loss on one path
    d = s.choose(_packet(), paths, [0, 0], 0)
    assert d.paths == [0, 1] and d.reason == "duplicate"


def test_blest_waits_for_the_fast_path_unless_its_queue_is_longer_than_the_gap():
    fast, slow = _path(0, 0.02, 10), _path(1, 0.30, 10)
    s = make_scheduler("blest")
    assert s.choose(_packet(), [fast, slow], [50_000, 0], 0).paths == [0]    # 40 ms queue
    assert s.choose(_packet(), [fast, slow], [500_000, 0], 0).paths == [1]   # 400 ms queue


def test_ldmp_fast_path_alone_then_spreads_when_intervals_overlap():
    fast, slow = _path(0, 0.02, 10), _path(1, 0.10, 10)
    s = make_scheduler("ldmp")
    d = s.choose(_packet(), [fast, slow], [0, 0], 0)
    assert d.paths == [0] and d.reason == "fast-path"
    d = s.choose(_packet(), [fast, slow], [70_000, 0], 0)    # fast path now due ~47 ms, slow ~51
    assert d.reason == "spread"


def test_storm_discards_duplicates_decompensates_and_orders():
    s = make_scheduler("storm", latency=0.5)
    good, lossy = _path(0, 0.02, 10), _path(1, 0.03, 10, loss=0.10)
    assert s.choose(_packet(deadline=0.001), [good, lossy], [0, 0], 0).paths == []  # late
    d = s.choose(_packet(), [lossy], [0, 0], 0)
    assert d.paths == [1]                                # only one path: no duplicate possible
    fast_lossy = _path(1, 0.01, 10, loss=0.10)
    d = s.choose(_packet(reliable=True), [good, fast_lossy], [0, 0], 0)
    assert d.reason == "duplicate" and d.paths == [1, 0]  # fastest first, a copy on the other
    good.loss.good_to_bad = 2.0                           # 2 % on the only clean-ish path:
    d = s.choose(_packet(reliable=True), [good, lossy], [0, 0], 0)
    assert d.reason == "duplicate"                        # reliable queue (0.5 %) duplicates,
    d = s.choose(_packet(), [good, lossy], [0, 0], 0)
    assert d.paths == [0] and d.reason == "dispatch"      # P-frames (5 %) do not
    jam = [_path(0, 0.02, 1), _path(1, 0.02, 1)]         # 1 Mbit/s each, 0.5 s budget
    d = s.choose(_packet(), jam, [40_000, 40_000], 0)    # 320 ms of backlog: > half the budget
    assert d.paths == [] and d.reason == "decompensate"
    assert s.choose(_packet(reliable=True, priority=7), jam, [40_000, 40_000], 0).paths
    key = s.sort_key(_packet(seq=9, reliable=True, priority=7), 0)
    p_frame = s.sort_key(_packet(seq=1), 0)
    assert key < p_frame                                 # reliable queue first


def test_storm_never_gives_a_weak_signal_path_the_sole_copy():
    s = make_scheduler("storm")
    weak, ok = _path(0, 0.01, 10), _path(1, 0.05, 10)
    weak.update_radio({"rsrp": -120.0}, {"rsrp": -115.0})
    assert s.choose(_packet(), [weak, ok], [0, 0], 0).paths == [1]
    d = s.choose(_packet(), [weak], [0], 0)
    assert d.paths == [0]                               # nothing else left: send, but count it


def test_storm_returns_to_an_idle_path_whose_last_packet_was_lost():
    # A path that lost its last packet and then went idle is not "in a burst" for ever: once
    # the other path's queue makes it later, STORM uses it again (the Starlink drive: AT&T
    # sat idle at 6.5 Mbit/s while a 400 ms queue built on Starlink).
    s = make_scheduler("storm", latency=0.5)
    busy, idle = _path(0, 0.03, 10), _path(1, 0.06, 8, loss=0.01)
    idle.loss.bad, idle.loss.bad_to_good = 10.0, 3.0    # bursts of ~3 packets
    idle.loss.last_lost = True                          # its last outcome: a loss ...
    idle.last_outcome = 1.0
    queue = 80_000                                      # ~35 ms of backlog on the busy path
    assert s.choose(_packet(deadline=1.5), [busy, idle], [queue, 0], 1.01).paths == [0]
    # ... within an RTT of it the burst is presumed to go on; a second later it is not
    assert s.choose(_packet(deadline=2.5), [busy, idle], [queue, 0], 2.0).paths == [1]


def test_storm_judges_a_retransmission_by_the_frame_it_repairs():
    # A retransmission joins the reliable queue (it goes out first), but one of a P-frame is
    # still a P/B packet: predicted late only behind a passing queue, it is sent, as the
    # original would have been. Discarding them cost sat-cell 92 of its 122 late frames.
    s = make_scheduler("storm", latency=0.5)
    path = _path(0, 0.02, 10)
    queue = 200_000                                   # 160 ms to drain: not congested
    p_frame = SchedPacket(1, 1300, 0, 0.1, 3, False)
    p_retry = SchedPacket(1, 1300, 0, 0.1, 6, True, retransmission=True)
    key_retry = SchedPacket(2, 1300, 0, 0.1, 7, True, key=True, retransmission=True)
    assert s.choose(p_frame, [path], [queue], 0).paths == [0]
    assert s.choose(p_retry, [path], [queue], 0).paths == [0]
    assert s.choose(key_retry, [path], [queue], 0).reason == "discard"


def test_storm_predicts_a_reliable_packet_behind_the_reliable_queue_only():
    # Full cellular uplink, a wide satellite beside it. A key-frame packet overtakes the
    # P-frames queued on the cell, so it is predicted (and sent) there, where a loss can be
    # repaired in time; predicted behind them it went to the satellite.
    s = make_scheduler("storm", latency=0.5)
    cell, sat = _path(0, 0.04, 3), _path(1, 0.6, 8)
    queued = [150_000, 0]                                 # 400 ms of P-frames on the cell
    key = SchedPacket(1, 1300, 0, 0.5, 7, True, key=True)
    assert s.overtakes(key) and not s.overtakes(_packet())
    assert s.choose(key, [cell, sat], queued, 0).paths == [1]
    assert s.choose(key, [cell, sat], queued, 0, ahead=[0, 0]).paths == [0]


def test_storm_decompensates_only_when_no_path_has_room():
    # The cell is full but the satellite is idle (its rate barely measured): P-frames go
    # there rather than being dropped as if the whole bond were congested.
    s = make_scheduler("storm", latency=0.5)
    cell, sat = _path(0, 0.04, 6), _path(1, 0.6, 1)
    d = s.choose(_packet(deadline=0.5), [cell, sat], [300_000, 0], 0)   # 400 ms on the cell
    assert d.paths == [1] and d.reason == "dispatch"
    d = s.choose(_packet(deadline=0.5), [cell, sat], [300_000, 50_000], 0)
    assert d.paths == [] and d.reason == "decompensate"


def test_storm_waits_out_a_path_that_fell_silent_before_decompensating():
    # A LEO dish goes dark; before it is declared dead its unacknowledged packets time out
    # and their repairs avoid it, leaving the cell alone in the scheduler's view. Its
    # backlog (320 ms of a 0.5 s budget) is the outage's, which may clear within the budget:
    # the repair of a P-frame is sent, as after a declared death, not decompensated (the
    # leo-handover run lost a whole GOP's tail to it at every outage).
    s = make_scheduler("storm", latency=0.5)
    cell = _path(1, 0.02, 1)                            # 1 Mbit/s: 40 kB drain in 320 ms
    fresh = SchedPacket(1, 1300, 0, 10.0, 3, False)
    retry = SchedPacket(1, 1300, 0, 10.0, 6, True, retransmission=True, avoid=0)
    assert s.choose(fresh, [cell], [0, 40_000], 0).reason == "decompensate"
    assert s.choose(retry, [cell], [0, 40_000], 0).reason == "dispatch"
    assert s.choose(retry, [cell], [0, 70_000], 0).reason == "decompensate"   # > the budget


def test_storm_sends_a_key_frames_last_chance_repair_twice():
    # A repair's loss would be found about two round trips after it arrives: a key frame's
    # repair that could not be repaired again in time goes on two paths (from spare
    # capacity); with time for another repair, or a P-frame's, it goes once.
    s = make_scheduler("storm", latency=0.5)
    a, b = _path(0, 0.02, 10), _path(1, 0.03, 10)
    def retry(deadline, key=True):
        return SchedPacket(2, 1300, 0, deadline, 7 if key else 6, True, key=key,
                           retransmission=True)
    d = s.choose(retry(0.05), [a, b], [0, 0], 0)
    assert d.reason == "duplicate" and sorted(d.paths) == [0, 1]
    assert s.choose(retry(0.4), [a, b], [0, 0], 0).paths == [0]              # time left
    assert s.choose(retry(0.05, key=False), [a, b], [0, 0], 0).paths == [0]  # a P-frame's
    assert len(s.choose(retry(0.05), [a, b], [40_000, 40_000], 0).paths) == 1  # no room
    assert s.choose(retry(0.05), [a], [0], 0).paths == [0]                   # one path
