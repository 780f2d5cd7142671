

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
