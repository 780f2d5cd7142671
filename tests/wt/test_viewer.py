"""Viewer sessions over real aioquic HTTP/3 + WebTransport connections in memory (virtual
time): catch-up from the GOP, deadline resets, slow viewers skipping to the next key frame,
and a 403 for a wrong token."""

from __future__ import annotations

import ssl

from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import HeadersReceived, WebTransportStreamDataReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import StreamReset

from strata_roq.certs import generate_self_signed
from strata_roq.wt.gateway import Gateway
from strata_roq.wt.viewer import ViewerSession
from strata_roq.wt.wire import AUDIO, VIDEO, WebFrame, decode_frame

CLIENT, SERVER = ("1.1.1.1", 1), ("2.2.2.2", 2)


class Pair:
    def __init__(self, tmp_path, mtu: int = 1200):
        cert, key = generate_self_signed()
        (tmp_path / "c.pem").write_bytes(cert)
        (tmp_path / "k.pem").write_bytes(key)
        common = dict(alpn_protocols=H3_ALPN, max_datagram_frame_size=65536)
        scfg = QuicConfiguration(is_client=False, max_datagram_size=mtu, **common)
        scfg.load_cert_chain(str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
        self.client = QuicConnection(configuration=QuicConfiguration(
            is_client=True, verify_mode=ssl.CERT_NONE, **common))
        self.server = QuicConnection(
            configuration=scfg,
            original_destination_connection_id=self.client.original_destination_connection_id)
        self.now = 0.0
        self.client.connect(SERVER, self.now)
        self.ch3 = H3Connection(self.client, enable_webtransport=True)
        self.sh3 = H3Connection(self.server, enable_webtransport=True)
        self.client_events, self.server_events = [], []
        self.pump(20)

    def pump(self, rounds=5, client_reads=True):
        for _ in range(rounds):
            for data, _ in self.client.datagrams_to_send(self.now):
                self.server.receive_datagram(data, CLIENT, self.now)
            for data, _ in self.server.datagrams_to_send(self.now):
                self.largest = max(getattr(self, "largest", 0), len(data))
                self.client.receive_datagram(data, SERVER, self.now)
            while (e := self.server.next_event()) is not None:
                self.server_events += self.sh3.handle_event(e)
            while client_reads and (e := self.client.next_event()) is not None:
                if isinstance(e, StreamReset):
                    self.client_events.append(e)
                self.client_events += self.ch3.handle_event(e)
            self.now += 0.005

    def open_session(self):
        sid = self.client.get_next_available_stream_id()
        self.ch3.send_headers(sid, [(b":method", b"CONNECT"), (b":protocol", b"webtransport"),
                                    (b":scheme", b"https"), (b":authority", b"x"),
                                    (b":path", b"/watch/main")])
        self.pump()
        assert any(isinstance(e, HeadersReceived) for e in self.server_events)
        self.sh3.send_headers(sid, [(b":status", b"200")])
        self.pump()
        return sid

    def frames(self):
        """Frames fully received by the client, by stream."""
        data: dict[int, bytearray] = {}
        done = set()
        for e in self.client_events:
            if isinstance(e, WebTransportStreamDataReceived):
                data.setdefault(e.stream_id, bytearray()).extend(e.data)
                if e.stream_ended:
                    done.add(e.stream_id)
        return [decode_frame(bytes(data[s])) for s in sorted(done)]


def _video(i, key=False, size=2000):
    return WebFrame(VIDEO, key, i, i * 33_333, 1_700_000_000_000_000 + i, bytes(size), i)


def test_joiner_gets_the_gop_first_then_live_frames(tmp_path):
    pair = Pair(tmp_path)
    sid = pair.open_session()
    gw = Gateway(latency=0.5)
    gw.gop = [_video(0, key=True), _video(1), _video(2)]
    viewer = ViewerSession(pair.sh3, pair.server, sid)
    gw.add_viewer("v", viewer, pair.now)
    viewer.send(_video(3), pair.now + 0.5, pair.now)
    viewer.send(WebFrame(AUDIO, True, 0, 0, 0, b"\xff\xf1" + bytes(10)), pair.now + 0.5, pair.now)
    pair.pump(10)
    got = pair.frames()
    assert sorted(f.index for f in got if f.kind == VIDEO) == [0, 1, 2, 3]
    assert viewer.stats.catchup_frames == 3 and viewer.stats.frames_sent == 5
    assert any(f.kind == AUDIO for f in got)


def test_frames_past_their_deadline_are_reset(tmp_path):
    pair = Pair(tmp_path)
    sid = pair.open_session()
    viewer = ViewerSession(pair.sh3, pair.server, sid)
    # The client stops reading (no ACKs come back): the frame cannot be delivered in time.
    for i in range(5):
        viewer.send(_video(i, key=i == 0, size=50_000), pair.now + 0.05, pair.now)
    pair.pump(2, client_reads=False)
    pair.now += 0.1
    assert viewer.expire(pair.now) > 0 and viewer.stats.resets > 0
    pair.pump(10)
    assert any(isinstance(e, StreamReset) for e in pair.client_events)


def test_slow_viewer_skips_to_the_next_key_frame(tmp_path):
    pair = Pair(tmp_path)
    sid = pair.open_session()
    viewer = ViewerSession(pair.sh3, pair.server, sid, max_backlog=100_000)
    for i in range(10):                               # 500 KB queued, nothing acknowledged
        viewer.send(_video(i, key=i == 0, size=50_000), pair.now + 5, pair.now)
    assert viewer.stats.skipped > 0                   # deltas beyond the backlog: not sent
    skipped = viewer.stats.skipped
    assert viewer.send(_video(10, key=True), pair.now + 5, pair.now)
    assert viewer.stats.key_resets > 0               # the stale queue made way for the key
    assert viewer.backlog() <= 100_000
    assert viewer.send(_video(11), pair.now + 5, pair.now)   # caught up: deltas flow again
    assert viewer.stats.skipped == skipped


def test_never_opens_more_streams_than_the_viewer_allows(tmp_path):
    """A viewer that reads nothing: once its MAX_STREAMS is used up, frames are counted as
    stream-limited instead of opening blocked streams (whose reset would be a
    STREAM_LIMIT_ERROR the browser closes the connection for)."""
    pair = Pair(tmp_path)
    sid = pair.open_session()
    viewer = ViewerSession(pair.sh3, pair.server, sid, max_backlog=10**9)
    limit = pair.server._remote_max_streams_uni  # noqa: SLF001
    for i in range(limit + 50):
        viewer.send(_video(i, key=i % 30 == 0, size=100), pair.now + 0.05, pair.now)
    assert viewer.stats.stream_limited > 0
    assert pair.server._local_next_stream_id_uni // 4 <= limit  # noqa: SLF001
    pair.now += 0.1
    viewer.expire(pair.now)
    pair.pump(5, client_reads=False)
    pair.pump(10)
    assert pair.client._close_event is None, pair.client._close_event  # noqa: SLF001


def _datagram_frames(pair, payload: int = 1100):
    """Frames the client could put back together from its datagrams (wire.fragments), each
    carrying at most ``payload`` bytes of frame."""
    from aioquic.h3.events import DatagramReceived

    from strata_roq.wt.wire import FRAGMENT, Reassembler

    whole = Reassembler()
    out = []
    for e in pair.client_events:
        if isinstance(e, DatagramReceived):
            assert len(e.data) <= FRAGMENT.size + payload
            frame = whole.add(e.data)
            if frame is not None:
                out.append(decode_frame(frame))
    return out


def test_datagram_mode_cuts_frames_into_datagrams(tmp_path):
    pair = Pair(tmp_path)
    sid = pair.open_session()
    gw = Gateway(latency=0.5)
    gw.gop = [_video(0, key=True, size=30_000)]
    viewer = ViewerSession(pair.sh3, pair.server, sid, datagram=True)
    gw.add_viewer("v", viewer, pair.now)
    frames = [_video(1, size=5000), WebFrame(AUDIO, True, 0, 0, 0, b"\xff\xf1" + bytes(300))]
    for f in frames:
        viewer.send(f, pair.now + 0.5, pair.now)
    pair.pump(30)
    got = _datagram_frames(pair)
    assert [(f.kind, f.index, len(f.data)) for f in got] == [(VIDEO, 1, 5000), (AUDIO, 0, 302)]
    assert got[0].data == frames[0].data
    # the catch-up comes on a stream: datagrams sent as the session opens may reach a
    # browser before the session is ready there, and be dropped
    (caught_up,) = pair.frames()
    assert caught_up.key and caught_up.index == 0 and len(caught_up.data) == 30_000
    assert viewer.stats.catchup_frames == 1 and viewer.stats.datagrams_sent >= 5 + 1


def test_datagram_fragments_fill_the_connections_packets(tmp_path):
    """One fragment per QUIC packet of the connection's size: 1250 bytes of frame in the
    web egress's 1350-byte packets (1100 in QUIC's minimum 1200), none cut or refused."""
    pair = Pair(tmp_path, mtu=1350)
    sid = pair.open_session()
    viewer = ViewerSession(pair.sh3, pair.server, sid, datagram=True)
    viewer.send(_video(0, key=True, size=30_000), pair.now + 0.5, pair.now)
    pair.pump(40)
    (got,) = _datagram_frames(pair, payload=1250)
    assert got.index == 0 and len(got.data) == 30_000
    assert viewer.stats.datagrams_sent == -(-(30_000 + 28) // 1250) == 25
    assert pair.largest <= 1350


def test_datagram_fragments_past_their_deadline_are_dropped_unsent(tmp_path):
    pair = Pair(tmp_path)
    sid = pair.open_session()
    viewer = ViewerSession(pair.sh3, pair.server, sid, datagram=True)
    viewer.send(_video(0, key=True, size=20_000), pair.now + 0.05, pair.now)
    viewer.send(_video(1, size=20_000), pair.now + 1.0, pair.now)
    assert viewer.backlog() > 40_000                  # nothing has left yet
    pair.now += 0.1
    assert viewer.expire(pair.now) == 1               # frame 0's deadline passed
    assert viewer.stats.datagrams_expired == 19 and viewer.backlog() < 21_000
    pair.pump(40)
    assert [f.index for f in _datagram_frames(pair)] == [1]   # never late: 0 never left
    assert viewer.expire(pair.now) == 0 and viewer.backlog() == 0


def test_viewer_sessions_are_compared_by_identity(tmp_path):
    # The gateway looks its viewers up on every frame; a generated field-by-field __eq__
    # made that quadratic in Python (0.73 ms per frame at 100 viewers, against 0.05).
    pair = Pair(tmp_path)
    sid = pair.open_session()
    a = ViewerSession(pair.sh3, pair.server, sid)
    b = ViewerSession(pair.sh3, pair.server, sid)
    assert a != b and a == a and len({a, b}) == 2


def test_a_joiner_catches_up_on_reference_pictures_numbered_without_gaps(tmp_path):
    """The catch-up leaves out pictures nothing references (disposable B-frames, AV1's top
    temporal layer) — less to send and decode before the viewer is live — and the viewer
    numbers its frames without them, so the page sees no gap to wait on or skip."""
    pair = Pair(tmp_path)
    sid = pair.open_session()
    gw = Gateway(latency=0.5)
    gop = [_video(0, key=True), _video(1), _video(2), _video(3), _video(4), _video(5)]
    for f in gop[2::2]:
        f.reference = False                       # 2 and 4: nothing depends on them
    gw.publish(gop, pair.now)
    assert [f.index for f in gw.gop] == [0, 1, 3, 5]
    viewer = ViewerSession(pair.sh3, pair.server, sid)
    gw.add_viewer("v", viewer, pair.now)
    gw.publish([_video(6, size=3000), _video(7, size=3000)], pair.now)
    pair.pump(10)
    got = {f.index: f for f in pair.frames() if f.kind == VIDEO}
    assert sorted(got) == [0, 1, 2, 3, 4, 5]      # 4 catch-up frames, then the two live ones
    assert [got[i].source_index for i in range(6)] == [0, 1, 3, 5, 6, 7]
    assert viewer.stats.catchup_frames == 4


def test_a_joiner_after_a_gop_too_long_to_keep_sees_the_gap(tmp_path, monkeypatch):
    """Past MAX_GOP_FRAMES the GOP stops growing: the frames after it are a real gap for a
    joiner (its page waits for the next key frame), not hidden by the renumbering."""
    from strata_roq.wt import gateway as gateway_module

    pair = Pair(tmp_path)
    sid = pair.open_session()
    gw = Gateway(latency=0.5)
    monkeypatch.setattr(gateway_module, "MAX_GOP_FRAMES", 3)
    gw.publish([_video(0, key=True), _video(1), _video(2), _video(3), _video(4)], pair.now)
    viewer = ViewerSession(pair.sh3, pair.server, sid)
    gw.add_viewer("v", viewer, pair.now)
    gw.publish([_video(5)], pair.now)
    pair.pump(10)
    assert sorted(f.index for f in pair.frames() if f.kind == VIDEO) == [0, 1, 2, 5]


def _frames_in_finishing_order(pair) -> list[WebFrame]:
    """The frames in the order their streams ended at the page."""
    ends = [e.stream_id for e in pair.client_events
            if isinstance(e, WebTransportStreamDataReceived) and e.stream_ended]
    by_stream = {}
    for e in pair.client_events:
        if isinstance(e, WebTransportStreamDataReceived):
            by_stream.setdefault(e.stream_id, bytearray()).extend(e.data)
    return [decode_frame(bytes(by_stream[s])) for s in ends]


def _indices_in_finishing_order(pair) -> list[int]:
    return [f.index for f in _frames_in_finishing_order(pair)]


def test_a_joiners_catch_up_comes_in_decode_order_before_live_frames(tmp_path):
    """The page decodes the catch-up as it comes: oldest first (newest first, it could start
    only when the last one sent — the oldest — arrived), and ahead of the live delta frames
    that depend on it."""
    pair = Pair(tmp_path)
    sid = pair.open_session()
    gw = Gateway(latency=0.5)
    gw.publish([_video(0, key=True, size=6000)] + [_video(i, size=6000) for i in range(1, 6)],
               pair.now)
    viewer = ViewerSession(pair.sh3, pair.server, sid)
    gw.add_viewer("v", viewer, pair.now)
    gw.publish([_video(6, size=6000)], pair.now)
    pair.pump(20)
    assert _indices_in_finishing_order(pair) == list(range(7))


def test_live_delta_frames_queued_together_leave_in_decode_order(tmp_path):
    """A viewer with a backlog gets its live delta frames oldest first (after the key frame):
    the page gives up a picture overtaken by newer ones for 150 ms, and the rest of its GOP
    with it."""
    pair = Pair(tmp_path)
    sid = pair.open_session()
    gw = Gateway(latency=0.5)
    viewer = ViewerSession(pair.sh3, pair.server, sid)
    gw.add_viewer("v", viewer, pair.now)
    gw.publish([_video(0, key=True, size=6000)] + [_video(i, size=6000) for i in range(1, 6)],
               pair.now)
    pair.pump(20)
    assert _indices_in_finishing_order(pair) == list(range(6))


def test_audio_leaves_first_and_in_order(tmp_path):
    """Sound queued together with pictures goes first, oldest first: the page's decoder plays
    what it is given in the order given (Chromium also stamps each output with the next time
    in its own count), so sound sent newest first came out of order."""
    pair = Pair(tmp_path)
    sid = pair.open_session()
    gw = Gateway(latency=0.5)
    viewer = ViewerSession(pair.sh3, pair.server, sid)
    gw.add_viewer("v", viewer, pair.now)
    frames = [_video(0, key=True, size=6000)]
    for i in range(1, 5):
        frames += [_video(i, size=6000), WebFrame(AUDIO, True, i, i * 20_000, 0, bytes(300), i)]
    gw.publish(frames, pair.now)
    pair.pump(20)
    order = [(f.kind, f.index) for f in _frames_in_finishing_order(pair)]
    assert order == [(AUDIO, i) for i in range(1, 5)] + [(VIDEO, i) for i in range(5)], order
