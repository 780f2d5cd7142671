"""RoqSender against a real aioquic peer, in memory (no sockets, virtual time)."""

from __future__ import annotations

import math

import pytest
from aioquic.quic.events import ConnectionTerminated

from strata_roq.media.frames import MediaFrame
from strata_roq.media.nal import FrameKind
from strata_roq.roq.receiver import RoqReceiver
from strata_roq.roq.sender import RoqSender


def _frame(index: int, deadline: float) -> MediaFrame:
    return MediaFrame(index, FrameKind.P, 0x100, "h264", 0.0, 0.0, deadline, priority=3)


def _connected(tmp_path, quic):
    """A connected client/server pair (events so far) and a stream-per-frame sender."""
    client, server = quic.pair(tmp_path)
    events: list = []
    quic.pump(client, server, 0.0, events)
    return client, server, events, RoqSender(client, mode="frame")


def test_frames_beyond_the_peers_stream_limit_are_dropped_never_reset(tmp_path, quic):
    _pair, _pump, PACKET = quic.pair, quic.pump, quic.PACKET
    client, server = _pair(tmp_path, server_max_streams_uni=4)
    events: list = []
    _pump(client, server, 0.0, events)
    sender = RoqSender(client, mode="frame")
    receiver = RoqReceiver(server)
    frames = [_frame(i, deadline=0.5) for i in range(8)]
    for frame in frames:                    # no FIN: the peer cannot release a stream
        assert sender.send(PACKET, frame, 0.01) == (frame.index < 4)
        sender.send(PACKET, frame, 0.01)
    _pump(client, server, 0.01, events)
    assert sender.stats.streams_opened == 4
    assert sender.stats.frames_stream_limited == 4
    assert sender.stats.dropped_stream_limit == 8
    # Past the deadline the open frames are reset; nothing beyond the limit is.
    assert sender.expire(0.6) == 4
    _pump(client, server, 0.6, events)
    for conn, e in events:
        if conn is server:
            receiver.handle_event(e, 0.6)
    closed = [e for _, e in events if isinstance(e, ConnectionTerminated)]
    assert closed == [] and receiver.closed_reason is None
    assert receiver.stats.resets_received == 4


def test_frames_flow_again_once_the_peer_releases_streams(tmp_path, quic):
    _pair, _pump, PACKET = quic.pair, quic.pump, quic.PACKET
    client, server = _pair(tmp_path, server_max_streams_uni=4)
    events: list = []
    _pump(client, server, 0.0, events)
    sender = RoqSender(client, mode="frame")
    receiver = RoqReceiver(server)
    got = 0
    now = 0.01
    for i in range(40):                     # ten times the limit, each frame completed
        frame = _frame(i, deadline=now + 0.5)
        assert sender.send(PACKET, frame, now) and sender.send(PACKET, frame, now)
        sender.end_frame(frame)
        _pump(client, server, now, events)
        for conn, e in events:
            if conn is server:
                got += len(receiver.handle_event(e, now))
        events.clear()
        now += 0.01
    assert got == 80 and sender.stats.frames_stream_limited == 0


def test_a_lost_reference_picture_is_reported_once_audio_and_disposable_never(tmp_path, quic):
    client, server, events, sender = _connected(tmp_path, quic)
    lost: list[int] = []
    sender.on_reference_lost = lost.append
    p = _frame(0, deadline=0.5)
    audio = MediaFrame(1, FrameKind.AUDIO, 0x101, "aac", 0.0, 0.0, 0.5, priority=5)
    b = MediaFrame(2, FrameKind.B, 0x100, "h264", 0.0, 0.0, 0.5, reference=False, priority=1)
    for frame in (p, audio, b):             # none finished: all reset at the deadline
        assert sender.send(quic.PACKET, frame, 0.01)
    assert sender.expire(0.6) == 3
    assert lost == [0] and sender.stats.references_lost == 1
    late = _frame(3, deadline=0.7)          # its first packet already too late
    assert not sender.send(quic.PACKET, late, 0.8) and not sender.send(quic.PACKET, late, 0.8)
    assert lost == [0, 3]


def test_a_reference_in_flight_a_whole_probe_timeout_unacknowledged_is_lost_at_its_deadline(
        tmp_path, quic):
    # An outage: every byte left, no acknowledgement comes back, so QUIC declares nothing
    # lost and nothing is waiting to be sent. At its deadline the picture is lost all the same.
    client, server, events, sender = _connected(tmp_path, quic)
    lost: list[int] = []
    sender.on_reference_lost = lost.append
    dark, fresh = _frame(0, deadline=0.5), _frame(1, deadline=0.5)
    assert sender.send(quic.PACKET, dark, 0.01)
    for ms in range(10, 30):                       # into the outage (paced out)
        client.datagrams_to_send(ms / 1000)
    assert sender.send(quic.PACKET, fresh, 0.48)   # left just now: it may yet arrive
    for ms in range(480, 500):
        client.datagrams_to_send(ms / 1000)
    assert sender._unsent(sender._by_frame[0].stream_id) == 0
    assert sender.expire(0.5) == 2
    assert lost == [0] and sender.stats.references_lost == 1


def test_a_path_the_peer_is_silent_on_is_dark(tmp_path, quic):
    client, server, events, sender = _connected(tmp_path, quic)
    assert sender.reachable(5.0)                   # nothing known yet: assume it delivers
    sender.heard(1.0)
    assert sender.reachable(1.1)
    assert not sender.reachable(1.0 + max(client._loss.get_probe_timeout(), 0.15) + 0.01)
    sender.heard(2.0)
    assert sender.reachable(2.05)


def test_pictures_after_a_lost_reference_are_reset_up_to_the_next_key_frame(tmp_path, quic):
    client, server, events, sender = _connected(tmp_path, quic)
    receiver = RoqReceiver(server)
    earlier = _frame(0, deadline=0.5)
    lost = _frame(1, deadline=0.5)
    p = _frame(2, deadline=0.5)
    b = MediaFrame(3, FrameKind.B, 0x100, "h264", 0.0, 0.0, 0.5, reference=False, priority=1)
    audio = MediaFrame(4, FrameKind.AUDIO, 0x101, "aac", 0.0, 0.0, 0.5, priority=5)
    key = MediaFrame(5, FrameKind.IDR, 0x100, "h264", 0.0, 0.0, 0.5, priority=4)
    after_key = _frame(6, deadline=0.5)
    frames = (earlier, lost, p, b, audio, key, after_key)
    for frame in frames:
        assert sender.send(quic.PACKET, frame, 0.01)
    assert sender.drop_gop_tail(1) == 2            # the P and the B between loss and key
    assert sender.stats.resets_gop_tail == 2
    for frame in frames:                           # their later packets go nowhere
        assert sender.send(quic.PACKET, frame, 0.02) == (frame.index not in (2, 3))
        sender.end_frame(frame)
    for ms in range(20, 60):
        quic.pump(client, server, ms / 1000, events)
    got = {}
    for conn, e in events:
        if conn is server:
            for packet in receiver.handle_event(e, 0.02):
                got[packet.stream_id] = got.get(packet.stream_id, 0) + 1
    assert receiver.stats.resets_received == 2
    assert sorted(got.values()) == [2] * 5


def test_a_frame_the_peer_stopped_before_its_event_was_read_is_dropped_not_raised(tmp_path, quic):
    # The hot path writes to aioquic's stream buffer directly; a STOP_SENDING that aioquic
    # has already acted on (stream reset) but whose event the application has not yet read
    # must count the packet as cancelled, not raise out of send() or end_frame().
    client, server, events, sender = _connected(tmp_path, quic)
    frame = _frame(0, deadline=0.5)
    assert sender.send(quic.PACKET, frame, 0.01)
    sid = sender._by_frame[0].stream_id
    client._streams[sid].sender.reset(5)          # what aioquic does on STOP_SENDING
    assert not sender.send(quic.PACKET, frame, 0.01)
    assert sender.stats.dropped_cancelled == 1 and sender.stats.packets == 1
    sender.end_frame(frame)                       # no FIN after the reset, no exception
    assert not sender.send(quic.PACKET, frame, 0.01)
    assert sender.stats.dropped_cancelled == 2


def test_the_last_packet_of_a_frame_and_its_fin_arrive_whole(tmp_path, quic):
    client, server, events, sender = _connected(tmp_path, quic)
    receiver = RoqReceiver(server)
    frame = _frame(0, deadline=0.5)
    for _ in range(5):
        assert sender.send(quic.PACKET, frame, 0.01)
    sender.end_frame(frame)
    assert not sender.send(quic.PACKET, frame, 0.01)   # after FIN: dropped, counted
    assert sender.stats.dropped_cancelled == 1
    for step in range(1, 20):                            # virtual time for aioquic's pacer
        quic.pump(client, server, 0.01 * step, events)
    got = [p for conn, e in events if conn is server for p in receiver.handle_event(e, 0.2)]
    assert [bytes(p.data) for p in got] == [bytes(quic.PACKET)] * 5
    assert receiver._streams == {}                      # FIN seen: the stream is done


def test_after_a_collapse_the_window_climbs_back_in_slow_start():
    from strata_roq.roq.sender import transfer_time

    assert transfer_time(36_000, 12_000, 0.04, None) == pytest.approx(0.12)   # 3 windows
    assert transfer_time(36_000, 12_000, 0.04, 10_000) == pytest.approx(0.12)  # above ssthresh
    # an outage left 2 packets of window, ssthresh 60 kB: a 36 kB key frame takes 4 round
    # trips (2 + 4 + 8 + 16 packets), not the 15 a linear estimate from the collapse says
    assert transfer_time(36_000, 2_400, 0.04, 60_000) == pytest.approx(0.16)
    # past ssthresh the rest goes a window per round trip
    assert transfer_time(60_000 - 2_400 + 60_000, 2_400, 0.04, 60_000) == pytest.approx(
        0.04 * math.log2(25) + 0.04)



def _numbered(i: int) -> bytes:
    return bytes([0x80, 33]) + i.to_bytes(2, "big") + bytes(996)


def _exchange(client, server, sender, start: float, end: float, deliver: bool) -> list:
    """Millisecond steps of QUIC pacing its packets out (each step's departures reported);
    ``deliver``: over a zero-delay link, acknowledgements included; else held back."""
    held, t = [], start
    while t < end:
        out = client.datagrams_to_send(t)
        sender.on_transmitted(t)
        for data, _ in out:
            if deliver:
                server.receive_datagram(data, ("1.1.1.1", 1), t)
            else:
                held.append(data)
        for data, _ in server.datagrams_to_send(t):
            client.receive_datagram(data, ("2.2.2.2", 2), t)
        t = round(t + 0.001, 3)
    return held


@pytest.mark.parametrize("mode", ["frame", "datagram"])
def test_packets_are_stamped_when_they_leave_not_when_written(tmp_path, quic, mode):
    """A key frame's burst written at once: QUIC's window lets part of it out now, the rest
    as acknowledgements come. Each packet is reported once, when its bytes left."""
    client, server = quic.pair(tmp_path)
    quic.pump(client, server, 0.0, [])
    sender = RoqSender(client, mode=mode)
    wired: list[tuple[int, int, float]] = []
    sender.on_wire = lambda seq, size, now: wired.append((seq, size, now))
    frame = _frame(0, deadline=5.0)
    for i in range(40):
        assert sender.send(_numbered(i), frame, 0.1)
    held = _exchange(client, server, sender, 0.1, 0.15, deliver=False)   # no acks yet
    first = len(wired)
    assert 0 < first < 40                           # the window held the rest
    for data in held:                               # the acknowledgements come at 0.15
        server.receive_datagram(data, ("1.1.1.1", 1), 0.15)
    _exchange(client, server, sender, 0.15, 0.5, deliver=True)
    assert [seq for seq, _, _ in wired] == list(range(40))     # each once, in order
    assert all(size == 1000 for _, size, _ in wired)
    assert all(0.1 <= now < 0.15 for _, _, now in wired[:first])
    assert all(now >= 0.15 for _, _, now in wired[first:])      # not stamped at writing


def test_a_frame_reset_before_it_left_is_never_reported(tmp_path, quic):
    client, server = quic.pair(tmp_path)
    quic.pump(client, server, 0.0, [])
    sender = RoqSender(client, mode="frame")
    wired: list[int] = []
    sender.on_wire = lambda seq, size, now: wired.append(seq)
    for i in range(40):
        sender.send(_numbered(i), _frame(0, deadline=0.3), 0.1)
    _exchange(client, server, sender, 0.1, 0.15, deliver=False)
    first = len(wired)
    assert 0 < first < 40
    assert sender.expire(0.31) == 1                # the frame's deadline: its stream reset
    _exchange(client, server, sender, 0.31, 0.5, deliver=True)
    assert len(wired) == first and not sender._unwired     # noqa: SLF001


def test_while_a_cap_holds_frames_are_predicted_in_decode_order_on_the_capped_window(
        tmp_path, quic):
    # Four P-frames of ~7.2 kB queued, nothing sent; a capped 12 kB window, 100 ms SRTT:
    # about 2.5 frames fit before the deadline. In decode order the newest are hopeless
    # (newest first, the oldest would be). Reno's ssthresh, far above, belongs to its own
    # window: the capped one does not climb in slow start.
    from strata_roq.roq.window_cap import set_window_cap

    client, _, _, sender = _connected(tmp_path, quic)
    loss = client._loss
    loss._rtt_initialized, loss._rtt_smoothed = True, 0.1
    loss._cc.ssthresh = 10 ** 6
    set_window_cap(client, 12_000)
    sender.set_decode_order(True)
    deadline = 0.01 + 0.05 + 18_000 * 0.1 / 12_000 + 0.0005
    frames = [_frame(i, deadline) for i in range(4)]
    for frame in frames:
        for _ in range(6):
            assert sender.send(quic.PACKET, frame, 0.01)
    assert sender.unsent_bytes() >= 4 * 6 * len(quic.PACKET)
    assert sender.expire(0.01) == 2
    assert [sender._by_frame[i].cancelled for i in range(4)] == [False, False, True, True]
    assert sender.unsent_bytes() < 3 * 6 * len(quic.PACKET)    # the cancelled ones are not
