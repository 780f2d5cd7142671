import pytest

from strata_roq.multipath.path import LossEstimate, Path


def test_rtt_owd_and_rate_from_feedback():
    p = Path("a")
    for k in range(200):                         # 1250-byte packets every 1 ms = 10 Mbit/s
        sent = k * 0.001
        p.on_sent(1250, sent)
        p.on_acked(1250, sent, arrival=1000.0 + sent + 0.020, now=sent + 0.040)
    assert p.srtt == pytest.approx(0.040) and p.min_rtt == pytest.approx(0.040)
    assert p.owd_excess == pytest.approx(0.0, abs=1e-9)       # clock offset cancels
    assert p.delivery_rate * 8 == pytest.approx(10e6, rel=0.05)
    assert p.in_flight == 0


def test_gilbert_elliott_estimate_from_bursts():
    est = LossEstimate(memory=1e9)
    pattern = ([True] * 5 + [False] * 95) * 200             # 5 % loss in bursts of 5
    for lost in pattern:
        est.observe(lost)
    assert est.rate == pytest.approx(0.05, rel=0.05)
    assert est.mean_burst == pytest.approx(5, rel=0.05)
    assert est.next_loss() < 0.02                            # last packet was received


def test_dead_after_two_rtt_of_silence_and_revived_by_feedback():
    p = Path("a")
    p.on_sent(1000, 0.0)
    p.on_acked(1000, 0.0, None, 0.05)
    p.on_sent(1000, 1.0)
    assert p.check_alive(1.09) and not p.check_alive(1.25)   # 2 RTT + 4 RTTVAR = 200 ms
    assert p.deaths == 1
    p.on_feedback(1.3)
    assert p.alive and p.revivals == 1


def test_signal_watermark_marks_path_unreliable():
    p = Path("lte")
    assert not p.unreliable
    p.update_radio({"rsrp": -120.0, "sinr": 5.0}, {"rsrp": -115.0})
    assert p.unreliable and p.rsrp == -120.0 and p.sinr == 5.0
    p.update_radio({"rsrp": -100.0}, {"rsrp": -115.0})
    assert not p.unreliable
    p.update_radio({"rsrp": -100.0, "sinr": -4.0}, {"rsrp": -115.0, "sinr": -3.0})
    assert p.unreliable
    p.clear_radio()
    assert not p.unreliable and p.rsrp is None



def test_batched_feedback_is_not_mistaken_for_silence():
    """CCFB comes every 100 ms: a path with a 5 ms RTT is not dead 100 ms after a send."""
    p = Path("lo")
    p.on_sent(1200, 0.0)
    p.on_acked(1200, 0.0, 0.002, 0.005)
    p.on_sent(1200, 0.006)
    assert p.check_alive(0.006 + 0.15, feedback_interval=0.1)
    assert not p.check_alive(0.006 + 0.21, feedback_interval=0.1)


def test_transport_rtt_seeds_a_fresh_path_only():
    p = Path("new")
    p.seed_rtt(0.012)
    assert p.srtt == 0.012 and p.min_rtt == 0.012
    p.on_sent(1200, 1.0)
    p.on_acked(1200, 1.0, None, 1.030)
    p.seed_rtt(0.001)                      # measured paths keep their own estimate
    assert p.srtt > 0.012 and p.min_rtt == 0.012


def test_the_rate_never_promises_more_than_the_transport_lets_through():
    p = Path("sat")
    assert p.rate() == p.rate_floor                 # nothing known: the floor
    p.transport_rate = 24_000.0                     # QUIC's first window over 600 ms
    assert p.rate() == 24_000.0
    p.delivery_rate = 400_000.0                     # measured, but the window is smaller
    assert p.rate() == 24_000.0
    p.transport_rate = 1e6                          # the window grew: the measurement rules
    assert p.rate() == 400_000.0


def test_a_burst_state_holds_while_busy_and_fades_once_the_path_is_idle():
    p = Path("att")
    t = 0.0
    pattern = ([False] * 97 + [True] * 3) * 5 + [False] * 50 + [True] * 2   # bursts of 3
    for lost in pattern:
        t += 0.001
        p.on_sent(1000, t)
        if lost:
            p.on_lost(1000, t + 0.1)
        else:
            p.on_acked(1000, t, None, t + 0.1)          # srtt 100 ms
    now = p.last_outcome
    assert p.in_flight == 0 and p.loss.next_loss() > 0.5       # mid-burst
    assert p.next_loss(now + 0.05) > 0.5           # within an RTT: the burst continues
    p.on_sent(1000, now + 0.5)
    assert p.next_loss(now + 0.5) > 0.5            # busy: the state of its last outcome
    p.on_acked(1000, now + 0.5, None, now + 0.6)
    assert p.next_loss(now + 0.6) < 0.05           # a delivery ended the burst
    p.on_sent(1000, now + 0.7)
    p.on_lost(1000, now + 0.8)
    assert p.next_loss(now + 0.85) > 0.5
    # idle for longer than an RTT: the stationary rate, not a burst that never ends
    assert p.next_loss(now + 1.0) == pytest.approx(p.loss.rate) and p.loss.rate < 0.05


def _bottleneck(p: Path, start: float, until: float, send_every: float, serve_every: float,
                backlog: float = 0.0) -> float:
    """1250-byte packets sent every ``send_every`` s through a bottleneck serving one every
    ``serve_every`` s (a FIFO: the excess queues), acknowledged 20 ms after they arrive.
    ``backlog``: when the bottleneck is next free. Returns it."""
    t = start
    free = max(backlog, start)
    while t < until:
        arrival = max(free, t) + serve_every
        free = arrival
        owd = arrival - t + 0.015
        p.on_sent(1250, t)
        p.on_acked(1250, t, arrival=t + owd, now=t + owd + 0.020)
        t += send_every
    return free


def test_a_capacity_fall_restarts_what_the_path_is_known_to_carry():
    p = Path("cell")
    free = _bottleneck(p, 0.0, 3.0, 0.0016, 0.001)        # 6.25 Mbit/s offered, 10 carried
    assert p.carrying_rate * 8 == pytest.approx(6.25e6, rel=0.05) and p.falls == 0
    _bottleneck(p, 3.0, 3.6, 0.0016, 0.004, free)        # the cell falls to 2.5 Mbit/s
    # the queue stands and the path delivers 2.5: what it carries follows within a window or
    # two, not after the maximum's 2 s (the encoder was told the old rate again)
    assert p.falls >= 1
    assert p.carrying_rate * 8 == pytest.approx(2.5e6, rel=0.1)
    # the scheduler's maximum keeps its window (a dip on a cellular path is often brief)
    assert p.delivery_rate * 8 == pytest.approx(6.25e6, rel=0.05)


def test_a_path_offered_less_keeps_its_maximum():
    p = Path("cell")
    _bottleneck(p, 0.0, 2.0, 0.0016, 0.001)              # 6.25 Mbit/s, no queue
    _bottleneck(p, 2.0, 3.0, 0.004, 0.001)               # the media falls to 2.5: no queue
    assert p.falls == 0 and p.carrying_rate * 8 == pytest.approx(6.25e6, rel=0.05)


def test_a_controller_that_sees_the_fall_restarts_the_pacing_maximum():
    from strata_roq.cc.bbr_rt import BbrController

    p = Path("cell", controller=BbrController(initial_rate=780_000.0))
    free = _bottleneck(p, 0.0, 3.0, 0.0016, 0.001)
    assert p.delivery_rate * 8 == pytest.approx(6.25e6, rel=0.05)
    _bottleneck(p, 3.0, 3.6, 0.0016, 0.004, free)
    assert p.controller.resets >= 1
    # paced from what is left, not from the 2-s maximum (that paced the path at the old rate
    # again each time its queue drained for a moment)
    assert p.delivery_rate * 8 == pytest.approx(2.5e6, rel=0.15)
