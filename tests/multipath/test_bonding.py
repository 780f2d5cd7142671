

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


def test_a_late_acknowledgement_measures_a_path_slower_than_the_first_rto():
    """A 600 ms satellite: every packet is declared lost (RTO ~0.35 s unmeasured) before its
    acknowledgement arrives; that acknowledgement still gives the path its RTT and marks the
    packet delivered, so it is not retransmitted again and the path is usable."""
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.multipath.path import Path
    from strata_roq.sched import make_scheduler
    from strata_roq.sched.base import SchedPacket

    sat = Path("sat")
    sender = BondedSender([sat], make_scheduler("minrtt"), feedback_interval=0.02)
    sender.push(SchedPacket(1, 1200, 0, 5.0), 0.0)
    (t,) = sender.poll(0.0)
    sender.check_timeouts(0.45)                      # past the unmeasured RTO: "lost"
    assert sender.counters["lost"] == 1 and sat.srtt is None
    sender.on_feedback(0, [(t.id, 0.3)], 0.6)        # ... but it arrived
    assert sender.counters["spurious_loss"] == 1
    assert abs(sat.srtt - 0.6) < 1e-9 and sat.alive
    assert 1 in sender._delivered                    # noqa: SLF001 - no further repair of it


def test_delivery_rate_is_the_maximum_of_the_last_two_seconds():
    from strata_roq.multipath.path import Path

    p = Path("x")
    p.srtt = 0.05
    t = 0.0
    seen = {}
    for rate, until in ((1_000_000, 1.0), (250_000, 4.0)):    # bytes/s, then slower
        while t < until:
            p.on_sent(1000, t)
            p.on_acked(1000, t, t + 0.01, t + 0.02)
            t += 1000 / rate
        seen[rate] = p.delivery_rate
        if rate == 1_000_000:
            t_slow = t
            while t < t_slow + 1.0:       # 1 s into the slow phase the fast max still holds
                p.on_acked(1000, t, t + 0.01, t + 0.02)
                t += 1000 / 250_000
            seen["1 s later"] = p.delivery_rate
    assert abs(seen[1_000_000] - 1_000_000) < 100_000
    assert abs(seen["1 s later"] - 1_000_000) < 100_000
    assert abs(seen[250_000] - 250_000) < 30_000            # 2 s on, it has aged out


def test_packets_that_will_not_arrive_are_reported_once_and_repairs_never():
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.multipath.path import Path
    from strata_roq.sched import make_scheduler
    from strata_roq.sched.base import SchedPacket

    gone = []
    sender = BondedSender([Path("a")], make_scheduler("minrtt"))
    sender.on_gone = gone.append
    sender.paths[0].alive = False                        # no path: the scheduler discards
    media = SchedPacket(1, 1200, 0, 1.0)
    repair = SchedPacket(2, 1200, 0, 1.0, repair=True)
    sender.push(media, 0.0)
    sender.push(repair, 0.0)
    sender.poll(0.0)
    assert gone == [media] and sender.counters["discarded"] == 2


def test_a_dying_path_hands_its_queue_to_the_survivors():
    """A key frame queued behind the pacer on a modem that drops: once the path is found
    dead, what it had not sent yet goes out on the other path, in time — it would otherwise
    wait for the modem to return."""
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.multipath.path import Path
    from strata_roq.sched import make_scheduler
    from strata_roq.sched.base import SchedPacket

    fast, slow = Path("lte", 0), Path("wifi", 1)
    for p, rtt in ((fast, 0.02), (slow, 0.06)):
        p.srtt, p.min_rtt, p.rttvar = rtt, rtt, 0.002
    sender = BondedSender([fast, slow], make_scheduler("minrtt"), feedback_interval=0.02)
    for seq in range(1, 61):                      # a 72 KB key frame, all for the fast path
        sender.push(SchedPacket(seq, 1200, 1, 1.0, priority=7, reliable=True, key=True), 0.0)
    sent_on: dict[int, list[int]] = {0: [], 1: []}
    t = 0.0
    while t < 0.9:
        for tx in sender.poll(t):
            sent_on[tx.path].append(tx.packet.seq)
            if tx.path == 1:                      # wifi delivers; lte has gone dark
                sender.on_feedback(1, [(tx.id, t + 0.03)], t + 0.06)
        t += 0.001
    assert not fast.alive and sender.counters["evacuated"] > 0
    assert set(sent_on[0]) | set(sent_on[1]) == set(range(1, 61))
    assert len(sent_on[0]) < 60                   # the pacer held most of it back



def test_an_older_packet_never_waits_behind_a_newer_one_scored_later():
    """STORM's urgency grows as a deadline nears, so a key computed later is larger: a path
    queue holding keys from different times sent a frame assigned 50 ms after its push
    ahead of an older one with an earlier deadline (in the sat-cell scenario P-frame packets
    waited seconds this way, then expired). The queue is re-scored when packets join it."""
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.multipath.path import Path
    from strata_roq.sched import make_scheduler
    from strata_roq.sched.base import SchedPacket

    path = Path("lte")
    path.srtt, path.min_rtt, path.rttvar = 0.04, 0.04, 0.002
    sender = BondedSender([path], make_scheduler("storm", latency=1.0), initial_rate=20_000)
    for seq in range(1, 7):                                 # a P-frame, paced slowly
        sender.push(SchedPacket(seq, 1000, 1, 1.0), 0.0)
    sent = sender.poll(0.0)
    assert [t.packet.seq for t in sent] == [1, 2]
    sender.on_feedback(0, [(t.id, 0.02) for t in sent], 0.04)
    for seq in range(7, 11):                                # the next frame, polled late
        sender.push(SchedPacket(seq, 1000, 2, 1.1), 0.1)
    assert [t.packet.seq for t in sender.poll(0.15)] == [3, 4, 5, 6]


def test_the_scheduler_learns_what_a_packet_that_overtakes_waits_behind():
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.multipath.path import Path
    from strata_roq.sched.base import SchedPacket
    from strata_roq.sched.storm import StormScheduler

    class Spy(StormScheduler):
        def choose(self, packet, paths, queued, now, ahead=None):
            seen.append((packet.seq, list(queued), ahead and list(ahead)))
            return super().choose(packet, paths, queued, now, ahead)

    seen = []
    path = Path("lte")
    path.srtt, path.min_rtt, path.rttvar = 0.04, 0.04, 0.002
    sender = BondedSender([path], Spy(latency=4.0), initial_rate=5_000)
    sender.push(SchedPacket(1, 1400, 0, 4.0, 7, True, key=True), 0.0)   # sent at once
    sender.push(SchedPacket(2, 1400, 0, 4.0, 7, True, key=True), 0.0)   # waits
    for seq in (3, 4):
        sender.push(SchedPacket(seq, 1000, 1, 4.0), 0.0)
    sender.poll(0.0)
    sender.push(SchedPacket(5, 1400, 2, 4.1, 7, True, key=True), 0.01)
    sender.push(SchedPacket(6, 1000, 3, 4.1), 0.01)
    sender.poll(0.01)
    assert seen[-2:] == [(5, [3400], [1400]), (6, [4800], None)]


def test_a_repair_avoids_the_path_its_original_was_lost_on():
    """A path that loses a packet to silence may be dying before it is declared dead (the
    loss timeout is the shorter one): the repair goes another way, unless no other path
    lives. (At a modem's drop a key frame's repairs went back onto it and were lost again.)"""
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.multipath.path import Path
    from strata_roq.sched import make_scheduler
    from strata_roq.sched.base import SchedPacket

    for name in ("storm", "minrtt", "blest"):
        fast, slow = Path("lte", 0), Path("wifi", 1)
        for p, rtt in ((fast, 0.02), (slow, 0.05)):
            p.srtt, p.min_rtt, p.rttvar = rtt, rtt, 0.002
        sender = BondedSender([fast, slow], make_scheduler(name), feedback_interval=0.02)
        sender.push(SchedPacket(1, 1200, 0, 1.0, 7, True, key=True), 0.0)
        assert [t.path for t in sender.poll(0.0)] == [0]
        sender.check_timeouts(0.09)                     # silent past its RTO ...
        assert sender.counters["lost_by_timeout"] == 1
        retry = sender.poll(0.09)
        assert fast.alive, name                          # ... not yet declared dead
        assert [(t.path, t.packet.seq) for t in retry] == [(1, 1)], name
    alone = Path("lte", 0)
    alone.srtt, alone.min_rtt, alone.rttvar = 0.02, 0.02, 0.002
    sender = BondedSender([alone], make_scheduler("storm"), feedback_interval=0.02)
    sender.push(SchedPacket(1, 1200, 0, 1.0, 7, True, key=True), 0.0)
    sender.poll(0.0)
    sender.check_timeouts(0.09)
    assert [t.path for t in sender.poll(0.09)] == [0]   # nowhere else to go


def test_a_paths_controller_caps_what_it_is_given_and_hears_what_the_path_hears():
    from strata_roq.cc.bbr_rt import BbrController
    from strata_roq.cc.coupled import CoupledVegas
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.multipath.path import Path
    from strata_roq.sched import make_scheduler

    a, b = Path("a"), Path("b")
    sender = BondedSender([a, b], make_scheduler("minrtt"), cc="bbr-rt", initial_rate=100_000)
    assert isinstance(a.controller, BbrController) and a.controller is not b.controller
    a.on_sent(1000, 0.0)
    assert a.controller.in_flight == 1000
    a.on_acked(1000, 0.0, 0.02, 0.04, app_limited=True)
    assert a.controller.in_flight == 0 and a.controller.min_rtt == 0.04
    a.on_sent(1000, 0.05)
    a.on_lost(1000, 0.5)
    assert a.controller.in_flight == 0
    a.delivery_rate = 1_000_000                      # the model: the path carried 8 Mbit/s
    a.controller.pacing_rate = 300_000               # the controller: more would queue
    a.owd_excess = 0.0                               # ... but no queue shows: no cap
    assert a.rate() == 1_000_000 and sender.pacing_rate(a) == 1_250_000   # (probing)
    a.owd_excess = 0.015                             # a queue: the controller's rate
    assert a.rate() == 300_000 and sender.pacing_rate(a) == 300_000
    a.controller.pacing_rate = 10_000                # never below the floor, though
    assert a.rate() == 100_000 and sender.pacing_rate(a) == 100_000
    assert BondedSender([Path("x")], make_scheduler("minrtt")).paths[0].controller is None
    coupled = BondedSender([Path("x"), Path("y")], make_scheduler("minrtt"), cc="vegas")
    x, y = (p.controller for p in coupled.paths)
    assert isinstance(x, CoupledVegas) and x.group is y.group and len(x.group.members) == 2


def test_packets_sent_with_nothing_left_queued_are_marked_application_limited():
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.multipath.path import Path
    from strata_roq.sched import make_scheduler
    from strata_roq.sched.base import SchedPacket

    path = Path("lo")
    sender = BondedSender([path], make_scheduler("minrtt"), cc="bbr-rt")
    path.seed_rtt(0.02)
    sender.push(SchedPacket(1, 1200, 1, 1.0), 0.0)
    out = sender.poll(0.0)
    assert len(out) == 1 and out[0].app_limited          # all it had: the media's rate
    for seq in range(2, 40):                              # a burst pacing holds back
        sender.push(SchedPacket(seq, 1200, 2, 1.0), 0.001)
    out = sender.poll(0.001)
    assert out and not any(t.app_limited for t in out)
