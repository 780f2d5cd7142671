"""QUIC's window capped at a capacity fall (roq.window_cap): the cap bounds what is in
flight, the controller's own window evolves underneath, and FallHold holds the cap from a
fall until the excess has left."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aioquic.quic.congestion.reno import RenoCongestionControl

from strata_roq.roq.window_cap import FALL_QUEUE, FallHold, set_window_cap, window_cap


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
    assert cc.congestion_window == (own + 1200) // 2
    set_window_cap(client, 10 ** 9)          # a cap above the window does not raise it
    assert cc.congestion_window == (own + 1200) // 2


def test_a_cap_never_goes_under_two_packets(tmp_path, quic):
    client, _ = quic.pair(tmp_path)
    set_window_cap(client, 10)
    assert client._loss.congestion_window == 2 * client._max_datagram_size


def test_fall_hold_caps_from_a_fall_until_the_excess_has_left():
    hold = FallHold()
    assert hold.on_report(None, 0.03, 80_000, 0) is None        # no fall: no cap
    cap = hold.on_report(2.5e6, 0.03, 80_000, 0)                # a fall: served × (RTT + q)
    assert cap == pytest.approx(2.5e6 / 8 * (0.03 + FALL_QUEUE), abs=1)
    assert hold.on_report(None, 0.03, cap - 1000, 30_000) == cap   # a backlog still waits
    assert hold.on_report(None, 0.03, cap + 5000, 0) == cap     # over the cap in flight
    lower = hold.on_report(2.0e6, 0.03, cap, 10_000)            # a later report: the new rate
    assert lower < cap and hold.holds == 1
    assert hold.on_report(None, 0.03, lower - 1, 0) is None     # gone: lifted
    assert hold.on_report(2.0e6, 0.03, 10_000, 0) is not None and hold.holds == 2


def test_fall_hold_waits_for_a_round_trip_time():
    assert FallHold().on_report(2.5e6, float("inf"), 0, 0) is None


def test_send_caps_the_window_and_serves_in_decode_order_while_it_holds(tmp_path, quic):
    from strata_roq.commands.send import _heard_feedback
    from strata_roq.roq.sender import RoqSender

    client, server = quic.pair(tmp_path)
    for step in range(5):
        quic.pump(client, server, 0.01 * step, [])
    roq = RoqSender(client, mode="frame")
    heard = []
    estimator = SimpleNamespace(fell_bps=0.5e6,
                                on_feedback=lambda arrivals, now: heard.append(arrivals))
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
