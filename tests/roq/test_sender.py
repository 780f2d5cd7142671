"""RoqSender against a real aioquic peer, in memory (no sockets, virtual time)."""

from __future__ import annotations

import ssl

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ConnectionTerminated

from strata_roq.certs import generate_self_signed
from strata_roq.media.frames import MediaFrame
from strata_roq.media.nal import FrameKind
from strata_roq.roq.framing import ALPN
from strata_roq.roq.receiver import RoqReceiver
from strata_roq.roq.sender import RoqSender

CLIENT, SERVER = ("1.1.1.1", 1), ("2.2.2.2", 2)
PACKET = bytes([0x80, 33]) + bytes(1200)


def _pair(tmp_path, server_max_streams_uni: int | None = None):
    cert, key = generate_self_signed()
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    common = dict(alpn_protocols=[ALPN], max_datagram_frame_size=65536)
    server_cfg = QuicConfiguration(is_client=False, **common)
    server_cfg.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    client = QuicConnection(configuration=QuicConfiguration(
        is_client=True, verify_mode=ssl.CERT_NONE, **common))
    server = QuicConnection(configuration=server_cfg,
                            original_destination_connection_id=client.original_destination_connection_id)
    if server_max_streams_uni is not None:
        limit = server._local_max_streams_uni  # noqa: SLF001 - aioquic has no setting for it
        limit.value = limit.sent = server_max_streams_uni
    client.connect(SERVER, 0.0)
    return client, server


def _pump(client, server, now, events: list) -> None:
    for conn in (client, server):
        timer = conn.get_timer()
        if timer is not None and timer <= now:
            conn.handle_timer(now)
    for _ in range(20):
        moved = 0
        for data, _ in client.datagrams_to_send(now):
            server.receive_datagram(data, CLIENT, now)
            moved += 1
        for data, _ in server.datagrams_to_send(now):
            client.receive_datagram(data, SERVER, now)
            moved += 1
        for conn in (client, server):
            while (e := conn.next_event()) is not None:
                events.append((conn, e))
        if not moved:
            return


def _frame(index: int, deadline: float) -> MediaFrame:
    return MediaFrame(index, FrameKind.P, 0x100, "h264", 0.0, 0.0, deadline, priority=3)


def test_frames_beyond_the_peers_stream_limit_are_dropped_never_reset(tmp_path):
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


def test_frames_flow_again_once_the_peer_releases_streams(tmp_path):
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
