

def test_weak_signal_path_never_carries_a_sole_copy_whatever_the_scheduler():
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.multipath.path import Path
    from strata_roq.sched import make_scheduler
    from strata_roq.sched.base import SchedPacket

    for name in ("minrtt", "dwrr", "blest", "ldmp", "storm"):
        fast, slow = Path("lte", 0), Path("wifi", 1)
        for p, rtt in ((fast, 0.02), (slow, 0.08)):
            p.srtt, p.min_rtt = rtt, rtt
        fast.update_radio({"rsrp": -121.0}, {"rsrp": -115.0})
        sender = BondedSender([fast, slow], make_scheduler(name))
        for seq in range(1, 41):
            sender.push(SchedPacket(seq, 1200, seq // 4, 1.0), 0.0)
        sender.poll(0.0)
        assert fast.sole_copies == 0, name
        assert slow.sole_copies + sender.counters["watermark_guard"] >= 40, name


def test_window_spans_the_feedback_interval():
    """With CCFB every 100 ms on a 2 ms RTT path, a key frame is not held back waiting for
    the next report: the in-flight window covers one feedback interval."""
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.multipath.path import Path
    from strata_roq.sched import make_scheduler
    from strata_roq.sched.base import SchedPacket

    path = Path("lo")
    sender = BondedSender([path], make_scheduler("minrtt"), feedback_interval=0.1)
    path.on_sent(1200, 0.0)
    path.on_acked(1200, 0.0, 0.001, 0.002)       # min RTT 2 ms, rate floor 2 Mbit/s
    for seq in range(1, 31):                      # a 36 KB key frame
        sender.push(SchedPacket(seq, 1200, 1, 0.5, priority=7, reliable=True, key=True), 0.01)
    sent = 0
    for k in range(1, 60):                        # 59 ms of pacing, no feedback yet
        sent += len(sender.poll(0.01 + k * 0.001))
    assert sent >= 14, sent     # paced at ~2.5 Mbit/s: ~17; a window of one RTT alone: ~7
