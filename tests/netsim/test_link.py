import random

import pytest

from strata_roq.netsim.link import Link
from strata_roq.netsim.loss import BernoulliLoss
from strata_roq.netsim.trace import DeliveryTrace, read_mahimahi, read_throughput_csv

TRACES = "/work/shared/traces"


def _drain(link, until):
    got, t = [], 0.0
    while True:
        nt = link.next_time()
        if nt is None or nt > until:
            return got
        got += [(nt, p) for p in link.poll(nt)]


def test_delay_only_keeps_order_and_time():
    link = Link(delay=0.02)
    for i in range(10):
        link.send(bytes([i]), i * 0.001)
    got = _drain(link, 1.0)
    assert [p[0] for _, p in got] == list(range(10))
    assert got[0][0] == pytest.approx(0.02) and got[-1][0] == pytest.approx(0.029)


def test_jitter_without_reorder_is_fifo_and_reorder_fraction_is_counted():
    link = Link(delay=0.01, jitter=0.005, rng=random.Random(1))
    for i in range(500):
        link.send(i.to_bytes(2, "big"), i * 0.001)
    order = [int.from_bytes(p, "big") for _, p in _drain(link, 5.0)]
    assert order == sorted(order)
    link = Link(delay=0.01, reorder=0.1, rng=random.Random(1))
    for i in range(500):
        link.send(i.to_bytes(2, "big"), i * 0.001)
    order = [int.from_bytes(p, "big") for _, p in _drain(link, 5.0)]
    assert order != sorted(order) and 30 < link.stats.reordered < 70


def test_rate_limit_serialises_and_tail_drops():
    link = Link(rate=1_000_000, queue_limit=0.05)        # 1 Mbit/s, 50 ms of queue
    for i in range(100):
        link.send(bytes(1250), 0.0)                       # 10 ms each at 1 Mbit/s
    got = _drain(link, 5.0)
    assert len(got) == 6 and link.stats.queue_drops == 94
    assert [t for t, _ in got] == pytest.approx([0.01 * k for k in range(1, 7)])


def test_loss_and_duplicate_and_outage_are_counted():
    link = Link(loss=BernoulliLoss(0.1), duplicate=0.1, rng=random.Random(2))
    for i in range(2000):
        link.send(b"x", i * 0.001)
    got = _drain(link, 10.0)
    s = link.stats
    assert s.lost + s.delivered - s.duplicated == 2000 and 150 < s.lost < 250 and s.duplicated > 100
    assert len(got) == s.delivered
    link.set_up(False)
    link.send(b"x", 11.0)
    assert link.stats.down_drops == 1


def test_trace_gives_its_capacity():
    constant = DeliveryTrace([1], 1)                      # mahimahi "1": 12 Mbit/s
    assert constant.mean_rate == pytest.approx(12e6)
    link = Link(trace=constant, queue_limit=10.0)
    for i in range(3000):
        link.send(bytes(1500), 0.0)
    got = _drain(link, 100.0)
    assert got[-1][0] == pytest.approx(3.0, abs=0.002)


def test_shared_traces_read():
    att = read_mahimahi(f"{TRACES}/mahimahi/ATT-LTE-driving-2016.down")
    assert att.mean_rate / 1e6 == pytest.approx(4.6, rel=0.1)
    star = read_throughput_csv(
        f"{TRACES}/starlink-concurrent/starlink_tcp_downlink_120010052.csv")
    assert 100 < star.mean_rate / 1e6 < 250


def test_trace_time_starts_with_the_first_packet():
    slow_then_fast = DeliveryTrace(list(range(0, 1000, 10)) + [1000 + k for k in range(1000)], 2000)
    link = Link(trace=slow_then_fast, queue_limit=100.0)
    start = 5000.0                                    # a monotonic clock is far from zero
    for i in range(50):
        link.send(bytes(1500), start)
    got = _drain(link, start + 100)
    assert got[-1][0] == pytest.approx(start + 0.49, abs=0.001)   # 100 pkt/s phase
    link.send(bytes(1500), start + 1.5)
    assert link.next_time() == pytest.approx(start + 1.5, abs=0.002)  # 1000 pkt/s phase


def test_before_a_set_origin_the_trace_runs_as_if_looped():
    """A relay set up ahead of its --epoch carries the paths' handshakes at the trace's
    rate, as if it had looped: it used to hold every packet until the epoch (dropping the
    rest past its queue limit), and the senders' connections timed out."""
    every_10ms = DeliveryTrace(list(range(10, 1010, 10)), 1000)
    link = Link(trace=every_10ms, queue_limit=0.2)
    start = 5000.0
    link.origin = start + 6.0
    for k in range(5):
        link.send(bytes(1200), start + 0.1 * k)
    got = _drain(link, start + 100)
    assert len(got) == 5                        # none dropped, each within one opportunity
    assert all(0 <= t - (start + 0.1 * k) <= 0.011 for k, (t, _) in enumerate(got)), got


def test_a_set_origin_is_time_zero_of_the_trace_and_the_delay_schedule():
    # relays given one --epoch: the first packet 1.2 s after it meets the trace's fast phase
    slow_then_fast = DeliveryTrace(list(range(0, 1000, 10)) + [1000 + k for k in range(1000)], 2000)
    link = Link(trace=slow_then_fast, queue_limit=100.0,
                delay_schedule=[(0.0, 0.010), (1.0, 0.050)])
    start = 5000.0
    link.origin = start
    link.send(bytes(1500), start + 1.2)
    assert link.current_delay(start + 1.2) == 0.050             # the schedule's second step
    got = _drain(link, start + 100)
    assert got[0][0] == pytest.approx(start + 1.2 + 0.050, abs=0.002)   # 1000 pkt/s phase
