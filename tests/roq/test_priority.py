"""Stream priority on aioquic: key frames first, then newer frames before older ones (issue 4:
"Stream priority: newer frames and key frames first"), packet by packet."""

from __future__ import annotations

from aioquic.quic.events import StreamDataReceived

from strata_roq.media.frames import MediaFrame
from strata_roq.media.nal import FrameKind
from strata_roq.roq.priority import enable_stream_priority, set_stream_rank
from strata_roq.roq.sender import RoqSender


def _frame(index: int, kind: FrameKind) -> MediaFrame:
    return MediaFrame(index, kind, 0x100, "h264", 0.0, 0.0, 5.0,
                      priority=7 if kind == FrameKind.IDR else 3)


def _order(client, server, quic) -> list[int]:
    """Stream ids in the order their data reached the server."""
    events: list = []
    for step in range(1, 40):
        quic.pump(client, server, 0.01 * step, events)
    seen: list[int] = []
    for conn, e in events:
        if conn is server and isinstance(e, StreamDataReceived) and e.data:
            seen.append(e.stream_id)
    return seen


def _queued(tmp_path, quic):
    """A connection with four frames queued on it (P, P, key, P), nothing transmitted yet:
    (client, server, sender, frame index -> stream id)."""
    client, server = quic.pair(tmp_path)
    quic.pump(client, server, 0.0, [])
    sender = RoqSender(client, mode="frame")
    frames = [_frame(0, FrameKind.P), _frame(1, FrameKind.P), _frame(2, FrameKind.IDR),
              _frame(3, FrameKind.P)]
    for frame in frames:
        for _ in range(6):
            assert sender.send(quic.PACKET, frame, 0.01)
        sender.end_frame(frame)
    return client, server, sender, {f.index: sender._by_frame[f.index].stream_id for f in frames}


def test_queued_frames_leave_key_frame_first_then_newest_first(tmp_path, quic):
    client, server, _, sid = _queued(tmp_path, quic)
    seen = _order(client, server, quic)
    firsts = sorted(set(seen), key=seen.index)
    lasts = sorted(set(seen), key=lambda s: len(seen) - 1 - seen[::-1].index(s))
    assert firsts == [sid[2], sid[3], sid[1], sid[0]]     # no interleaving ...
    assert lasts == firsts                                 # ... each stream done in turn


def test_equal_ranks_share_round_robin(tmp_path, quic):
    client, server = quic.pair(tmp_path)
    quic.pump(client, server, 0.0, [])
    enable_stream_priority(client)
    sids = []
    for _ in range(2):                       # two streams of equal rank, 6000 bytes each
        sid = client.get_next_available_stream_id(is_unidirectional=True)
        client.send_stream_data(sid, bytes(6000))
        set_stream_rank(client, sid, 5)
        sids.append(sid)
    seen = _order(client, server, quic)
    switches = sum(1 for a, b in zip(seen, seen[1:]) if a != b)
    assert set(seen) == set(sids) and switches >= 4      # alternating, not one after the other


def test_decode_order_serves_the_oldest_first_and_reranks_open_streams(tmp_path, quic):
    client, server, sender, sid = _queued(tmp_path, quic)   # ranked newest first ...
    sender.set_decode_order(True)                            # ... then switched over
    seen = _order(client, server, quic)
    firsts = sorted(set(seen), key=seen.index)
    assert firsts == [sid[2], sid[0], sid[1], sid[3]]     # key frame, then decode order


def test_leaving_decode_order_ranks_newest_first_again(tmp_path, quic):
    client, server, sender, sid = _queued(tmp_path, quic)
    sender.set_decode_order(True)
    sender.set_decode_order(False)
    seen = _order(client, server, quic)
    firsts = sorted(set(seen), key=seen.index)
    assert firsts == [sid[2], sid[3], sid[1], sid[0]]
