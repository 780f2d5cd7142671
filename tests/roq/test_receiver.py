"""RoqReceiver's frame give-up: a late packet ends its frame's stream, not a long stream."""

from __future__ import annotations

from aioquic.quic.events import StopSendingReceived

from strata_roq.media.frames import MediaFrame
from strata_roq.media.nal import FrameKind
from strata_roq.roq.receiver import RoqReceiver
from strata_roq.roq.sender import RoqSender


SMALL = bytes([0x80, 33]) + bytes(200)


def _frame(index: int) -> MediaFrame:
    return MediaFrame(index, FrameKind.P, 0x100, "h264", 0.0, 0.0, 1.0, priority=3)


def _run(tmp_path, quic, mode: str):
    client, server = quic.pair(tmp_path)
    events: list = []
    quic.pump(client, server, 0.0, events)
    sender, receiver = RoqSender(client, mode=mode), RoqReceiver(server, latency=0.3)
    got: list = []

    def step(now):
        quic.pump(client, server, now, events)
        for conn, e in events:
            if conn is server:
                got.extend(receiver.handle_event(e, now))
            else:
                sender.handle_event(e, now)
        events.clear()

    for i in range(2):                               # two frames, each half sent
        sender.send(SMALL, _frame(i), 0.01)
    step(0.01)
    return sender, receiver, got, step


def test_a_late_packet_gives_up_its_frame_stream_and_asks_the_sender_to_stop(tmp_path, quic):
    sender, receiver, got, step = _run(tmp_path, quic, "frame")
    late = got[0].stream_id
    assert receiver.give_up(late, 0.02) and receiver.given_up(late)
    assert not receiver.given_up(got[1].stream_id)
    assert receiver.stats.frames_given_up == 1 and receiver.stats.stop_sending_sent == 1
    sender.send(SMALL, _frame(0), 0.03)        # the rest of the late frame
    sender.send(SMALL, _frame(1), 0.03)
    got.clear()
    step(0.03)
    assert [p.stream_id for p in got] == [got[0].stream_id] and got[0].stream_id != late
    assert sender.stats.stop_sending_received == 1
    assert receiver.give_up(late, 0.04) and receiver.stats.frames_given_up == 1  # once
    receiver.expire(0.5)                             # forgotten one budget later
    assert not receiver.given_up(late)


def test_one_long_stream_is_never_given_up(tmp_path, quic):
    _sender, receiver, got, _step = _run(tmp_path, quic, "stream")
    assert len({p.stream_id for p in got}) == 1
    assert not receiver.give_up(got[0].stream_id, 0.02)
    assert receiver.stats.stop_sending_sent == 0


def test_datagrams_are_judged_one_by_one(tmp_path, quic):
    _sender, receiver, got, _step = _run(tmp_path, quic, "datagram")
    assert got and all(p.stream_id is None for p in got)
    assert not receiver.give_up(None, 0.02) and not receiver.given_up(None)


def _rtp(seq: int) -> bytes:
    return bytes([0x80, 33, seq >> 8, seq & 0xFF]) + bytes(200)


def test_playout_give_ups_stop_the_stream_holding_the_missing_packets(tmp_path, quic):
    client, server = quic.pair(tmp_path)
    events: list = []
    quic.pump(client, server, 0.0, events)
    sender, receiver = RoqSender(client, mode="frame"), RoqReceiver(server, latency=0.3)
    for seq, index in ((0xFFFE, 0), (0xFFFF, 0), (5, 1)):   # frame 0 wraps, frame 1 further on
        sender.send(_rtp(seq), _frame(index), 0.01)
    quic.pump(client, server, 0.01, events)
    got = [p for conn, e in events if conn is server for p in receiver.handle_event(e, 0.01)]
    streams = {((p.data[2] << 8) | p.data[3]): p.stream_id for p in got}
    # packet 0 (after 0xFFFF) and 1 never came by their playout time: frame 0's stream holds them
    assert receiver.give_up_missing([0, 1], 0.2) == 1
    assert receiver.given_up(streams[0xFFFF]) and not receiver.given_up(streams[5])
    assert receiver.stats.playout_give_ups == 1 and receiver.stats.stop_sending_sent == 1
    assert receiver.give_up_missing([0x8000], 0.2) == 0      # nobody's: nothing stopped
    assert receiver.give_up_missing([6], 0.2) == 1 and receiver.given_up(streams[5])


def test_playout_give_ups_leave_one_long_stream_alone(tmp_path, quic):
    sender, receiver, got, _step = _run(tmp_path, quic, "stream")
    assert receiver.give_up_missing([1, 2, 3], 0.2) == 0 and receiver.stats.stop_sending_sent == 0


def _rtp(seq: int) -> bytes:
    return bytes([0x80, 33]) + seq.to_bytes(2, "big") + bytes(200)


def test_a_gap_may_fill_while_a_stream_that_could_carry_it_is_open_or_unseen(tmp_path, quic):
    from aioquic.quic.events import StreamDataReceived, StreamReset

    from strata_roq.roq.framing import encode_stream_record

    client, server = quic.pair(tmp_path)
    receiver = RoqReceiver(server, latency=0.3)

    def data(sid, seqs, fin, first=True):
        payload = (b"\x00" if first else b"") + b"".join(encode_stream_record(_rtp(s))
                                                          for s in seqs)
        return receiver.handle_event(StreamDataReceived(payload, fin, sid), 0.0)

    assert len(data(2, [10, 11], False)) == 2          # frame A: its tail is being repaired
    assert len(data(6, [14], True)) == 1               # frame B, whole
    assert receiver.may_fill(12) and receiver.may_fill(13)
    assert not receiver.may_fill(11) and not receiver.may_fill(300)
    data(2, [12, 13], True, first=False)               # A ends: nothing open is behind 15
    assert not receiver.may_fill(15)
    # stream 10 has not shown up (still queued at the sender, or its first bytes lost) while
    # 14 has: anything missing may be on it
    assert len(data(14, [20], True)) == 1
    assert receiver.may_fill(16)
    receiver.handle_event(StreamReset(error_code=0, stream_id=10), 0.0)   # it was cancelled
    assert not receiver.may_fill(16)


def test_a_stream_that_never_shows_up_is_not_waited_for_forever(tmp_path, quic):
    from aioquic.quic.events import StreamReset

    from strata_roq.roq.receiver import MAX_UNSEEN_SPAN

    client, server = quic.pair(tmp_path)
    receiver = RoqReceiver(server, latency=0.3)
    receiver._media_streams = 2
    receiver.handle_event(StreamReset(error_code=0, stream_id=2), 0.0)
    for n in range(2, MAX_UNSEEN_SPAN + 3):        # stream 6 never comes
        receiver.handle_event(StreamReset(error_code=0, stream_id=2 + 4 * n), 0.0)
    assert not receiver.may_fill(100) and not receiver._seen_above


def test_the_first_stream_opened_has_nothing_before_it(tmp_path, quic):
    """A reorder buffer may start at once on the first packet of a stream with no stream
    opened before it missing — not when an earlier stream has not shown up, nor once
    datagrams (which can be overtaken) are in use."""
    from aioquic.quic.events import DatagramFrameReceived, StreamDataReceived

    from strata_roq.roq.framing import encode_datagram, encode_stream_record

    client, server = quic.pair(tmp_path)
    receiver = RoqReceiver(server, latency=0.3)

    def data(sid, seq):
        receiver.handle_event(StreamDataReceived(b"\x00" + encode_stream_record(_rtp(seq)),
                                                 True, sid), 0.0)

    data(2, 10)
    assert receiver.nothing_before(2)
    assert not receiver.nothing_before(None)             # a datagram: no order known
    other = RoqReceiver(quic.pair(tmp_path)[1], latency=0.3)
    other.handle_event(StreamDataReceived(b"\x00" + encode_stream_record(_rtp(11)), True, 6),
                       0.0)
    assert not other.nothing_before(6)                   # stream 2 (opened first) not seen
    receiver.handle_event(DatagramFrameReceived(encode_datagram(0, _rtp(12))), 0.0)
    data(6, 13)
    assert not receiver.nothing_before(6)
