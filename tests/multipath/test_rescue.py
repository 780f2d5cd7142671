

def _cell_and_spare():
    """A cellular path with a jittery RTT (its RTO is 0.47 s) and a quiet one beside it (30 ms
    one way): a repair after the RTO arrives at 0.50 s at best."""
    from strata_roq.multipath.path import Path

    cell, spare = Path("cell", 0), Path("starlink", 1)
    cell.srtt, cell.min_rtt, cell.rttvar = 0.1, 0.06, 0.08
    spare.srtt, spare.min_rtt, spare.rttvar = 0.06, 0.06, 0.03
    return cell, spare


def test_an_overdue_packet_whose_timeout_repair_would_be_late_gets_a_copy_another_way():
    """A cellular uplink's capacity collapses: what it holds arrives after the deadline, and
    its RTO (a round trip plus four deviations) would find the loss too late to repair.
    STORM sends a copy on the other path once the ACK is overdue by two deviations, and the
    timeout then finds nothing more to repair."""
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.sched import make_scheduler
    from strata_roq.sched.base import SchedPacket

    cell, spare = _cell_and_spare()
    sender = BondedSender([cell, spare], make_scheduler("storm"), feedback_interval=0.02)
    sender.push(SchedPacket(1, 1200, 0, 0.45, path=0), 0.0)
    assert [t.path for t in sender.poll(0.0)] == [0]
    sender.check_timeouts(0.27)                      # not yet overdue (0.1 + 0.16 + 0.02)
    assert sender.poll(0.27) == []
    assert sender.next_timer(0.27) is not None and sender.next_timer(0.27) <= 0.281
    sender.check_timeouts(0.29)
    assert sender.counters["rescued"] == 1
    assert [(t.path, t.packet.seq) for t in sender.poll(0.29)] == [(1, 1)]
    sender.check_timeouts(0.48)                      # the original's RTO: lost ...
    assert sender.counters["lost_by_timeout"] == 1
    assert sender.counters["arq"] == 0 and sender.poll(0.48) == []   # ... already repaired
    assert cell.alive                                # (not yet declared dead)


def test_no_copy_while_the_timeout_can_still_repair_in_time_nor_from_the_classic_schedulers():
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.sched import make_scheduler
    from strata_roq.sched.base import SchedPacket

    for name, deadline in (("storm", 0.55), ("minrtt", 0.45), ("dwrr", 0.45)):
        cell, spare = _cell_and_spare()
        sender = BondedSender([cell, spare], make_scheduler(name), feedback_interval=0.02)
        sender.push(SchedPacket(1, 1200, 0, deadline, path=0), 0.0)
        assert [t.path for t in sender.poll(0.0)] == [0]
        sender.check_timeouts(0.29)
        assert sender.poll(0.29) == [] and sender.counters["rescued"] == 0, name


def test_no_copy_onto_a_path_without_room():
    """A rescue is a duplicate: only onto a path whose queue is short and that makes the
    deadline (on full uplinks copies delay the sole copies behind them)."""
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.sched import make_scheduler
    from strata_roq.sched.base import SchedPacket

    cell, spare = _cell_and_spare()
    sender = BondedSender([cell, spare], make_scheduler("storm"), feedback_interval=0.02)
    sender.push(SchedPacket(1, 1200, 0, 0.45, path=0), 0.0)
    for seq in range(2, 42):                         # 48 kB waiting for the other path
        sender.push(SchedPacket(seq, 1200, 1, 0.45, path=1), 0.0)
    sender._tokens[1] = -1e9                         # noqa: SLF001 - its pacer holds them
    sender.poll(0.0)
    sender.check_timeouts(0.29)
    assert sender.counters["rescued"] == 0
