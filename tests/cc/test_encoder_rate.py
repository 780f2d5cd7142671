"""The encoder rate loop in virtual time: a live encoder follows the signal through a
12 → 4 → 12 Mbit/s capacity step (15 ms one way)."""

from __future__ import annotations

import numpy as np
import pytest

from strata_roq.cc.encoder_rate import EncoderRate
from strata_roq.cc.rate_message import encode_rate, parse_rate, parse_rate_message
from strata_roq.errors import ParseError
from strata_roq.netsim.ccsim import run_encoder_loop
from strata_roq.netsim.synthetic import trace_from_rates


@pytest.fixture(scope="module")
def loop():
    trace = trace_from_rates([(0, 12e6), (10, 4e6), (20, 12e6)], 30)
    return run_encoder_loop(EncoderRate(6e6, max_bps=20e6), trace=trace, duration=30)


def _at(signal, t):
    return next(s for when, s in signal if when >= t)


def test_the_signal_falls_under_the_new_capacity_within_200_ms(loop):
    assert _at(loop["signal"], 9.9) > 9e6
    assert _at(loop["signal"], 10.2) * 1.08 < 4e6       # what the encoder then sends fits


@pytest.mark.parametrize("start, end", [(5, 10), (14, 20), (25, 30)])
def test_steady_state_moves_by_less_than_10_percent(loop, start, end):
    v = [s for t, s in loop["signal"] if start <= t < end]
    assert (max(v) - min(v)) / 2 / ((max(v) + min(v)) / 2) < 0.10


def test_it_uses_the_capacity_and_climbs_back(loop):
    assert _at(loop["signal"], 9.0) * 1.08 > 0.85 * 12e6
    assert _at(loop["signal"], 17.0) * 1.08 > 0.8 * 4e6
    assert _at(loop["signal"], 27.0) * 1.08 > 0.85 * 12e6


def test_the_queue_the_fall_left_is_drained_within_a_second(loop):
    late = [lat for t, lat in loop["pictures"] if 11.0 <= t < 20]
    assert np.percentile(late, 95) < 0.1 and loop["lost_pictures"] <= 1


def test_silence_halves_the_rate_and_poll_repeats():
    est = EncoderRate(4e6)
    assert est.poll(0.0) == 4_000_000
    assert est.poll(0.1) is None and est.poll(0.25) == 4_000_000    # repeated every 250 ms
    est.on_sent(1, 1200, 1.0)
    est.on_feedback([(1, 1.02)], 1.05)
    est.on_sent(2, 1200, 1.1)
    assert est.poll(2.2) == 2_000_000                                # a second of silence
    assert est.poll(3.3) == 1_000_000


def test_rate_messages_round_trip_and_garbage_is_refused():
    assert parse_rate(encode_rate(2.5e6)) == 2_500_000
    assert parse_rate_message(encode_rate(2.5e6)) == (2_500_000, False)
    assert parse_rate_message(encode_rate(1e6, key_frame=True)) == (1_000_000, True)
    with pytest.raises(ParseError, match="key_frame"):
        parse_rate_message(b'{"rate_bps": 1000000, "key_frame": "yes"}')
    for bad in (b"", b"{", b"[]", b'{"rate": 1}', b'{"rate_bps": "x"}', b'{"rate_bps": -5}',
                b'{"rate_bps": true}', b"\xff"):
        with pytest.raises(ParseError):
            parse_rate(bad)


def _clean_path(est, rate_bps, seconds, seq=0, t=0.0):
    """Packets at ``rate_bps`` over a path with 20 ms one way and no queue, CCFB every 100 ms."""
    size, pending = 1200, []
    gap = size * 8 / rate_bps
    next_report = t + 0.1
    while t < seconds:
        est.on_sent(seq, size, t)
        pending.append((seq, t + 0.02))
        seq += 1
        t += gap
        if t >= next_report:
            est.on_feedback([(s, a) for s, a in pending if a <= t], t)
            pending = [(s, a) for s, a in pending if a > t]
            next_report += 0.1
    return seq, t


def test_the_estimate_is_capped_by_delivery_unless_a_demand_is_known():
    capped = EncoderRate(1.2e6, max_bps=10e6)
    _clean_path(capped, 1.2e6, 6.0)
    assert capped.rate_bps < 1.65 * 1.2e6         # 1.5 x delivery (measured per round)
    thinned = EncoderRate(1.2e6, max_bps=10e6)
    thinned.demand_bps = 2.4e6        # the sender thins a 2.4 Mbit/s source to 1.2
    _clean_path(thinned, 1.2e6, 6.0)
    assert thinned.rate_bps >= 0.95 * 2.4e6


def _near_capacity_stream(est, policy, *, cut_at=8.0, duration=10.0):
    """testsrc's 3.2 Mbit/s (a 40 kB key frame every 2 s, CBR) through a bottleneck of 3.8
    that falls to 2.16 Mbit/s at ``cut_at`` (15 ms one way, 200 ms queue), CCFB every 25 ms;
    the layer policy asks the estimator what the path carries. Returns (time of the first
    decision to thin, the largest queueing delay before the cut)."""
    import random

    from strata_roq.netsim.link import Link

    trace = trace_from_rates([(0, 3.8e6), (cut_at, 2.16e6)], duration + 1)
    fwd = Link(delay=0.015, trace=trace, queue_limit=0.2, rng=random.Random(1))
    size, frame, seq, t = 1200, 1 / 30, 0, 0.0
    next_frame, next_report, arrivals = 0.0, 0.025, []
    first_drop, worst = None, 0.0
    index = 0
    while t < duration:
        t = min(x for x in (fwd.next_time(), next_frame, next_report) if x is not None)
        for s, sent_at in fwd.poll(t):
            arrivals.append((s, t))
            if sent_at < cut_at:
                worst = max(worst, t - sent_at - 0.015)
        if t >= next_report:
            est.on_feedback(list(arrivals), t + 0.015)
            arrivals.clear()
            next_report += 0.025
        if t >= next_frame:
            nbytes = 40_000 if index % 60 == 0 else int((3.2e6 / 4 - 40_000) / 59)
            for _ in range(-(-nbytes // size)):
                fwd.send((seq, t), t, size)
                est.on_sent(seq, size, t)
                policy.on_media(size, t)
                seq = (seq + 1) & 0xFFFF
            index += 1
            next_frame += frame
            est.demand_bps = policy.media_bps(t)
            if policy.update(est.carries_bps(t), t) and first_drop is None:
                first_drop = t
    return first_drop, worst


def test_a_key_frames_queue_near_capacity_is_no_misfit_but_a_cut_is():
    """Layer thinning asks what the path *carries* (its capacity, measured while a queue
    stands), not the drain rate the controller chose: a key frame's queue on a path at 85 %
    of its capacity cut the estimate under the media for a round, and thinning on that
    dropped pictures from a stream that fitted (here at 2.1 s instead of after the cut)."""
    from strata_roq.cc.layer_policy import LayerPolicy

    est = EncoderRate(100e6, max_bps=1e9)
    first_drop, worst = _near_capacity_stream(est, LayerPolicy())
    assert worst > 0.05                             # the key frames do queue ...
    assert 8.0 < first_drop < 8.3, first_drop       # ... but only the cut thins
    cap = est.capacity_bps(10.0)
    assert cap is not None and abs(cap - 2.16e6) < 0.1 * 2.16e6, cap


def test_what_the_path_carries_without_a_standing_queue_or_feedback():
    est = EncoderRate(1.2e6, max_bps=10e6)
    est.demand_bps = 3e6
    seq, t = _clean_path(est, 1.2e6, 3.0)
    assert est.capacity_bps(t) is None                # no queue has stood: unknown
    assert est.carries_bps(t) >= 3e6                  # all it is offered, as far as we know
    before = est.rate_bps
    est.poll(t + 1.5)                                 # reports stopped: the silence rule
    assert est.carries_bps(t + 1.5) == est.instant_bps <= before / 2


def test_it_measures_what_the_encoder_sends_over_what_it_was_told():
    told = EncoderRate(2e6, max_bps=2e6)     # told 2 Mbit/s, sends audio and TS on top
    _clean_path(told, 2e6 * 1.08, 6.0)
    assert told.wire_ratio == pytest.approx(1.08, abs=0.01)
    under = EncoderRate(2e6, max_bps=2e6)                # an encoder under its target
    _clean_path(under, 1.5e6, 6.0)
    assert under.wire_ratio == 1.0


@pytest.mark.parametrize("offset", [0.0, 0.2, 0.4, 0.6, 0.8])
def test_wherever_the_fall_lands_the_queue_drains_and_the_signal_holds(offset):
    # The fall at any moment of the climb: the queue it leaves drains within a second and the
    # 4 Mbit/s phase moves under ±7 %. (Climbing past the fit at the EWMA's pace, the signal
    # ran 10 % over it before each queue was seen — ±10.0 % — and the drain, cut from a
    # round's swinging delivery and blind to the media's 8 % overhead, left 127 ms p95.)
    fall = 10.0 + offset
    trace = trace_from_rates([(0, 12e6), (fall, 4e6), (fall + 10, 12e6)], fall + 10)
    loop = run_encoder_loop(EncoderRate(6e6, max_bps=20e6), trace=trace, duration=fall + 10)
    late = [lat for t, lat in loop["pictures"] if fall + 1 <= t < fall + 10]
    assert np.percentile(late, 95) < 0.08
    v = [s for t, s in loop["signal"] if fall + 4 <= t < fall + 10]
    assert (max(v) - min(v)) / (max(v) + min(v)) < 0.07
    assert np.mean(v) * 1.08 > 0.9 * 4e6                 # and it still uses the capacity


@pytest.mark.parametrize("offset", [0.0, 0.01, 0.02, 0.03, 0.04, 0.05])
def test_a_fall_under_the_media_is_seen_before_a_200_ms_queue_overflows(offset):
    # rate_step_real.py's step in virtual time: testsrc at its 6 Mbit/s ceiling (with the
    # media's 8 % on top) on an 8 Mbit/s path that falls to 2.5, a 200 ms tail-drop queue,
    # reports every 50 ms. Judged a round later, the fall was seen 137-193 ms after it and
    # the queue overflowed (2-4 pictures lost at these offsets): within one report, not.
    fall = 6.0 + offset
    trace = trace_from_rates([(0, 8e6), (fall, 2.5e6), (fall + 6, 8e6)], fall + 8)
    est = EncoderRate(3e6, max_bps=6e6)
    loop = run_encoder_loop(est, trace=trace, duration=fall + 8, queue=0.2)
    assert _at(loop["signal"], fall - 0.1) > 5e6
    assert _at(loop["signal"], fall + 0.12) * 1.08 < 2.5e6
    assert loop["lost_pictures"] == 0 and est.fall.falls >= 1


def test_a_report_showing_a_fall_says_what_the_path_served():
    # 9.6 Mbit/s of media; the path serves it, then a report in which every packet waited
    # and they left the bottleneck evenly, 4 ms apart (2.4 Mbit/s): a fall, and the rate.
    est = EncoderRate(6e6, max_bps=20e6)
    for seq in range(1000):
        est.on_sent(seq, 1200, seq / 1000)
    est.on_feedback([(seq, seq / 1000 + 0.015) for seq in range(900)], 0.95)
    assert est.fell_bps is None
    est.on_feedback([(seq, 0.912 + 0.004 * (seq - 900)) for seq in range(900, 940)], 1.08)
    assert est.fell_bps == pytest.approx(2.4e6, rel=0.05)
    est.on_feedback([(seq, 0.975 + 0.001 * (seq - 940)) for seq in range(940, 960)], 1.1)
    assert est.fell_bps is None              # only the report that showed it
