"""Per-path controllers on the 12 → 4 → 12 Mbit/s step, 100 ms RTT, in virtual time."""

import pytest

from strata_roq.cc import make_controller
from strata_roq.cc.base import WindowedMax, WindowedMin
from strata_roq.cc.gradient import GradientController
from strata_roq.cc.rate_signal import RateSignal
from strata_roq.netsim.ccsim import run
from strata_roq.netsim.synthetic import trace_from_rates

STEP = [(0, 12e6), (20, 4e6), (40, 12e6)]


@pytest.fixture(scope="module")
def step_runs():
    trace = trace_from_rates(STEP, 60)
    out = {}
    for name in ("bbr-rt", "bbr-like"):
        signal, signalled = RateSignal(), []

        def tick(now, c, signal=signal, signalled=signalled):
            signalled.append((now, signal.update(c.bandwidth * 8)))
        out[name] = run(make_controller(name), delay=0.05, trace=trace, duration=60,
                        on_tick=tick), signalled
    return out


def test_bbr_rt_keeps_the_queue_to_its_headroom_at_high_utilisation(step_runs):
    r, _ = step_runs["bbr-rt"]
    assert r["queue_p95_ms"] <= 15 and r["utilisation"] >= 0.85, r["queue_p95_ms"]


def test_a_classic_bbr_cap_stands_on_a_queue_of_about_the_base_rtt(step_runs):
    r, _ = step_runs["bbr-like"]
    assert r["queue_p50_ms"] > 60 and r["utilisation"] > 0.95


def test_rate_signal_drops_within_200_ms_and_holds_steady(step_runs):
    _, signalled = step_runs["bbr-rt"]
    drop = next(t for t, s in signalled if t >= 20 and s <= 4e6)
    assert drop - 20 <= 0.2
    for a, b in ((10, 19.9), (30, 39.9), (50, 59.9)):      # steady states
        values = [s for t, s in signalled if a <= t < b]
        mid = (max(values) + min(values)) / 2
        assert max(values) <= 1.1 * mid and min(values) >= 0.9 * mid, (a, min(values),
                                                                         max(values))


def test_rate_signal_is_down_at_once_up_slowly():
    s = RateSignal(alpha=0.1, margin=1.0, deadband=0.0, floor=0)
    assert s.update(10e6) == 10e6
    assert s.update(4e6) == 4e6                    # at once
    up = s.update(10e6)
    assert 4e6 < up < 5e6                          # one EWMA step of 10 %
    for _ in range(60):
        up = s.update(10e6)
    assert up > 9.9e6


def test_rate_signal_deadband_spares_the_encoder_small_changes():
    s = RateSignal(alpha=1.0, margin=1.0, deadband=0.05, floor=0)
    s.update(10e6)
    assert s.update(10.3e6) == 10e6 and s.update(10.6e6) == 10.6e6


def test_gradient_ignores_delay_on_the_reverse_path():
    """Acks come back ever later (a queue on the return path) but the one-way delay forward
    stays flat: the controller keeps growing, as it must."""
    c = GradientController(initial_rate=100_000)
    now, start = 0.0, 100_000
    for k in range(4000):
        sent = k * 0.001
        now = sent + 0.04 + k * 0.0001          # RTT grows by 0.1 ms per packet
        c.on_sent(1000, sent)
        c.on_ack(1000, sent, sent + 0.02 + 3.0, now)   # forward OWD constant (+ clock offset)
    assert c.pacing_rate > 2 * start


def test_gradient_backs_off_when_the_forward_queue_grows():
    c = GradientController(initial_rate=1_000_000)
    for k in range(3000):
        sent = k * 0.001
        c.on_sent(1000, sent)
        c.on_ack(1000, sent, sent + 0.02 + k * 0.0002, sent + 0.05 + k * 0.0002)
    assert c.pacing_rate < 1_000_000


def test_windowed_extremes():
    mx, mn = WindowedMax(1.0), WindowedMin(1.0)
    for t, v in ((0.0, 5), (0.5, 3), (0.9, 4)):
        mx.update(t, v)
        mn.update(t, v)
    assert mx.get(0.95) == 5 and mn.get(0.95) == 3
    assert mx.get(1.2) == 4 and mn.get(1.6) == 4


def test_unknown_controller_is_named():
    with pytest.raises(ValueError, match="unknown congestion controller 'cubic'"):
        make_controller("cubic")


def test_capacity_is_measured_only_while_a_queue_stands():
    """Bytes over the span of their arrivals, in rounds whose lowest queueing delay is above
    ``busy``: what the bottleneck serves. Without a queue, only what was offered arrives."""
    def flow(ctrl, offered_bps, capacity_bps, seconds):
        size, served_at, t, reports = 1200, 0.0, 0.0, []
        while t < seconds:
            served_at = max(served_at, t) + size * 8 / capacity_bps     # FIFO bottleneck
            reports.append((size, t, served_at + 0.015))
            t += size * 8 / offered_bps
            while reports and reports[0][2] + 0.015 <= t:               # 15 ms back
                s, at, arrival = reports.pop(0)
                ctrl.on_ack(s, at, arrival, arrival + 0.015)
        return ctrl

    idle = flow(GradientController(), 2e6, 4e6, 3.0)
    assert idle.capacity_at is None
    busy = flow(GradientController(), 5e6, 4e6, 3.0)   # over capacity: a queue builds
    assert busy.capacity_at is not None and abs(busy.capacity * 8 - 4e6) < 0.02 * 4e6


def test_bbr_rt_does_not_take_batched_acknowledgements_for_a_queue():
    # A bonded receiver reports arrivals every 20 ms: a packet's acknowledgement waits up to
    # that long, which lengthens its RTT but queues nothing at the bottleneck. Judged on RTT,
    # the controller saw a standing "queue" above its headroom and drained (gain 0.75) for
    # good; judged on one-way delays, it paces at the path's rate.
    c = make_controller("bbr-rt", initial_rate=1_000_000)
    sent = []
    t = 0.0
    for k in range(4000):                       # 1 MB/s of 1000-byte packets for 4 s
        t = k * 0.001
        c.on_sent(1000, t)
        sent.append(t)
        if k % 20 == 19:                        # the report: every packet of the last 20 ms
            for s in sent:
                c.on_ack(1000, s, s + 0.02 + 3.0, t + 0.02)   # 20 ms one way, +3 s clocks
            sent = []
    assert c.queue_delay < 0.001
    assert c.pacing_rate >= 0.85 * c.bandwidth and c.bandwidth > 800_000


def test_bbr_rt_application_limited_samples_never_lower_the_model():
    # A bonded path carries what the scheduler gives it, often less than it could: such
    # samples show the media's rate, not the path's.
    def run(app_limited: bool) -> float:
        c = make_controller("bbr-rt", initial_rate=1_000_000)
        t = 0.0
        while t < 6.0:
            rate = 1_000_000 if t < 2.0 else 200_000      # then the media needs a fifth
            t += 1000 / rate
            c.on_sent(1000, t)
            c.on_ack(1000, t, t + 0.02, t + 0.04, app_limited=app_limited and t >= 2.0)
        return c.bandwidth

    assert run(app_limited=True) > 800_000
    assert run(app_limited=False) < 300_000


def test_rate_signal_passes_its_plateau_slowly_then_climbs_quickly():
    # CUBIC's shape: the last rate that fit is approached at the EWMA's pace, passed by at
    # most ``creep`` of it per update within ``band``, and left behind quickly above that.
    s = RateSignal(alpha=0.2, margin=1.0, deadband=0.0, floor=0, band=0.1, creep=0.005)
    s.plateau = 4e6
    s.update(3e6)
    steps = [s.update(10e6) for _ in range(40)]
    first_over = next(i for i, v in enumerate(steps) if v > 4e6)
    assert first_over <= 3                               # up to the plateau at EWMA speed
    within = [b - a for a, b in zip(steps, steps[1:]) if 4e6 <= a < 4.4e6]
    assert len(within) >= 19 and max(within) <= 0.005 * 4e6 + 1   # 0.5 % per update
    above = [b - a for a, b in zip(steps, steps[1:]) if a >= 4.4e6]
    assert above and above[0] > 0.2 * 1e6                # the EWMA's pace again
    free = RateSignal(alpha=0.2, margin=1.0, deadband=0.0, floor=0)
    free.update(3e6)
    assert [free.update(10e6) for _ in range(8)][-1] > 8e6   # no plateau: no creep
