"""QUIC's window capped at a capacity fall (roq.window_cap): the cap bounds what is in
flight, the controller's own window evolves underneath, and FallHold holds the cap from a
fall until the excess has left."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aioquic.quic.congestion.reno import RenoCongestionControl

from strata_roq.roq.window_cap import (FALL_QUEUE, MAX_HOLD, MIN_CAP, REOPEN, FallHold,
                                       set_window_cap, window_cap)


def _sent(size: int, at: float = 0.0):
    return SimpleNamespace(sent_bytes=size, sent_time=at)


def _bytes_sent(client, start: float) -> int:
    """What the client sends over 100 ms (its pacer spreads it), nothing acknowledged."""
    return sum(len(data) for ms in range(100)
               for data, _ in client.datagrams_to_send(start + ms / 1000))


def test_the_cap_bounds_the_bytes_in_flight(tmp_path, quic):
    client, server = quic.pair(tmp_path)
    for step in range(5):
        quic.pump(client, server, 0.01 * step, [])
    sid = client.get_next_available_stream_id(is_unidirectional=True)
    own = client._loss.congestion_window     # (its initial window: nothing acknowledged)
    set_window_cap(client, own // 2)
    client.send_stream_data(sid, bytes(100_000))
    sent = _bytes_sent(client, 0.1)
    assert own // 2 - 1500 <= sent <= own // 2
    assert window_cap(client) == own // 2
    set_window_cap(client, None)             # lifted: the controller's own window again
    assert window_cap(client) is None
    assert own - 1500 <= sent + _bytes_sent(client, 0.2) <= own


def test_the_controller_keeps_its_own_window_underneath(tmp_path, quic):
    client, _ = quic.pair(tmp_path)
    cc = client._loss._cc
    own = cc.congestion_window
    set_window_cap(client, 5000)
    cc = client._loss._cc
    assert isinstance(cc, RenoCongestionControl) and cc.congestion_window == 5000
    cc.on_packet_sent(packet=_sent(1200, 0.5))
    cc.on_packet_acked(now=1.0, packet=_sent(1200, 0.5))     # slow start: the own window grows
    assert cc.congestion_window == 5000 and cc.own_window == own + 1200
    cc.on_packet_sent(packet=_sent(1200, 2.0))
    cc.on_packets_lost(now=3.0, packets=[_sent(1200, 2.0)])   # a loss halves it
    assert cc.own_window == (own + 1200) // 2
    set_window_cap(client, None)
    assert client._loss.congestion_window == (own + 1200) // 2
    set_window_cap(client, 10 ** 9)          # a cap above the window does not raise it
    assert client._loss.congestion_window == (own + 1200) // 2


def test_a_cap_never_goes_under_two_packets(tmp_path, quic):
    client, _ = quic.pair(tmp_path)
    set_window_cap(client, 10)
    assert client._loss.congestion_window == MIN_CAP


def test_lifting_gives_back_the_plain_controller_and_paces_at_once(tmp_path, quic):
    client, server = quic.pair(tmp_path)
    for step in range(5):
        quic.pump(client, server, 0.01 * step, [])
    loss = client._loss
    own = loss.congestion_window
    set_window_cap(client, own // 4)        # the pacer's packet spacing follows at once
    assert loss._pacer.packet_time == pytest.approx(
        loss._pacer._max_datagram_size * loss._rtt_smoothed / (own // 4))
    set_window_cap(client, None)
    assert loss._pacer.packet_time == pytest.approx(
        loss._pacer._max_datagram_size * loss._rtt_smoothed / own)
    assert type(client._loss._cc) is RenoCongestionControl     # no wrapper per packet
    assert client._loss.congestion_window == own and window_cap(client) is None
    assert not hasattr(client._loss._cc, "own_window")


def test_real_acknowledgements_grow_the_own_window_under_the_cap(tmp_path, quic):
    client, server = quic.pair(tmp_path)
    for step in range(5):
        quic.pump(client, server, 0.01 * step, [])
    own = client._loss.congestion_window
    set_window_cap(client, 6000)
    sid = client.get_next_available_stream_id(is_unidirectional=True)
    client.send_stream_data(sid, bytes(60_000))
    for step in range(5, 60):
        quic.pump(client, server, 0.01 * step, [])
    cc = client._loss._cc
    assert cc.own_window > own and client._loss.congestion_window == 6000


def test_fall_hold_caps_from_a_fall_until_the_excess_has_left():
    hold = FallHold()
    report = dict(min_rtt=0.03, drained=False)
    assert hold.on_report(0.0, None, in_flight=80_000, waiting=0, **report) is None
    cap = hold.on_report(0.05, 2.5e6, in_flight=80_000, waiting=0, **report)   # a fall
    assert cap == pytest.approx(2.5e6 / 8 * (0.03 + FALL_QUEUE), abs=1)   # served × (RTT + q)
    assert hold.on_report(0.1, None, in_flight=cap - 1000, waiting=30_000, **report) == cap
    assert hold.on_report(0.15, None, in_flight=cap + 5000, waiting=0, **report) == cap
    lower = hold.on_report(0.2, 2.0e6, in_flight=cap, waiting=10_000, **report)   # new rate
    assert lower < cap and hold.holds == 1
    assert hold.on_report(0.25, None, in_flight=lower - 1, waiting=0, **report) is None
    assert hold.on_report(0.3, 2.0e6, in_flight=10_000, waiting=0, **report) is not None
    assert hold.holds == 2


def test_fall_hold_opens_up_while_the_path_drains_and_lets_go_after_a_while():
    hold = FallHold()
    cap = hold.on_report(0.0, 2.5e6, 0.03, in_flight=80_000, waiting=0, drained=False)
    # the capacity came back: the path's queue is gone while the cap still holds media back
    wider = hold.on_report(0.5, None, 0.03, in_flight=20_000, waiting=50_000, drained=True)
    assert wider == int(cap * REOPEN)
    assert hold.on_report(0.55, None, 0.03, in_flight=20_000, waiting=50_000,
                          drained=False) == wider     # queued again: held where it is
    assert hold.on_report(0.6, None, 0.03, in_flight=20_000, waiting=0,
                          drained=True) is None       # and what waited has gone
    hold.on_report(1.0, 2.5e6, 0.03, in_flight=80_000, waiting=0, drained=False)
    assert hold.on_report(1.0 + MAX_HOLD - 0.1, None, 0.03, in_flight=20_000,
                          waiting=50_000, drained=False) is not None
    assert hold.on_report(1.0 + MAX_HOLD + 0.1, None, 0.03, in_flight=20_000,
                          waiting=50_000, drained=False) is None


def test_fall_hold_caps_no_lower_than_the_window_it_can_set():
    hold = FallHold()
    assert hold.on_report(0.0, 100e3, 0.02, in_flight=5000, waiting=0, drained=False) == MIN_CAP
    assert hold.on_report(0.1, None, 0.02, in_flight=1300, waiting=0, drained=False) is None


def test_fall_hold_waits_for_a_round_trip_time():
    assert FallHold().on_report(0.0, 2.5e6, float("inf"), 0, 0, False) is None


def _held(tmp_path, quic):
    from strata_roq.roq.sender import RoqSender

    client, server = quic.pair(tmp_path)
    for step in range(5):
        quic.pump(client, server, 0.01 * step, [])
    roq = RoqSender(client, mode="frame")
    heard = []
    estimator = SimpleNamespace(fell_bps=0.5e6, report_queue=0.03,
                                on_feedback=lambda arrivals, now: heard.append(arrivals))
    return client, server, roq, estimator, heard


def test_send_caps_the_window_and_serves_in_decode_order_while_it_holds(tmp_path, quic):
    from strata_roq.commands.send import _heard_feedback

    client, _, roq, estimator, heard = _held(tmp_path, quic)
    hold = FallHold()
    own = client._loss.congestion_window
    _heard_feedback(roq, estimator, {1: [(7, 0.1)]}, 0.1, hold)
    assert heard == [[(7, 0.1)]]
    cap = window_cap(client)
    rtt = client._loss._rtt_min
    assert cap == int(0.5e6 / 8 * (rtt + FALL_QUEUE)) and cap < own
    assert roq.decode_order and hold.holds == 1
    estimator.fell_bps = None                # nothing waits, little in flight: let go
    _heard_feedback(roq, estimator, {}, 0.15, hold)
    assert window_cap(client) is None and not roq.decode_order
    assert client._loss.congestion_window == own
    _heard_feedback(roq, estimator, {}, 0.2, None)     # no encoder follows: never held
    assert window_cap(client) is None


def test_send_holds_while_a_backlog_waits_and_opens_up_as_the_path_drains(tmp_path, quic):
    from strata_roq.commands.send import _heard_feedback
    from strata_roq.media.frames import MediaFrame
    from strata_roq.media.nal import FrameKind

    client, server, roq, estimator, _ = _held(tmp_path, quic)
    hold = FallHold()
    _heard_feedback(roq, estimator, {}, 0.1, hold)
    frame = MediaFrame(0, FrameKind.P, 0x100, "h264", 0.0, 0.0, 5.0, priority=3)
    for _ in range(20):
        roq.send(quic.PACKET, frame, 0.1)    # queued behind the capped window
    assert roq.unsent_bytes() >= 20 * len(quic.PACKET)
    estimator.fell_bps = None
    _heard_feedback(roq, estimator, {}, 0.15, hold)
    assert window_cap(client) is not None    # a backlog still waits
    held = window_cap(client)
    estimator.report_queue = 0.002           # a packet came through an empty queue
    _heard_feedback(roq, estimator, {}, 0.2, hold)
    assert window_cap(client) == int(held * REOPEN) and roq.decode_order   # opens up
    for t in range(21, 40):
        if window_cap(client) is None:
            break
        quic.pump(client, server, t / 100, [])   # the backlog leaves, is acknowledged
        _heard_feedback(roq, estimator, {}, t / 100, hold)
    assert window_cap(client) is None and not roq.decode_order
