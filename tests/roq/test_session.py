"""RoqSender/RoqReceiver over two in-memory aioquic connections in virtual time."""

from __future__ import annotations

import ssl

import pytest
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ConnectionTerminated, StopSendingReceived

from strata_roq.certs import generate_self_signed
from strata_roq.media.frames import MediaFrame
from strata_roq.media.nal import FrameKind
from strata_roq.roq.framing import ALPN, RoqErrorCode, encode_varint
from strata_roq.roq.receiver import RoqReceiver
from strata_roq.roq.sender import RoqSender

CLIENT, SERVER = ("1.1.1.1", 1111), ("2.2.2.2", 2222)


class Pair:
    """A connected client (sender) and server (receiver); ``pump`` moves packets."""

    def __init__(self, tmp_path, mode="frame", latency=None, flows=None):
        cert, key = generate_self_signed()
        (tmp_path / "c.pem").write_bytes(cert)
        (tmp_path / "k.pem").write_bytes(key)
        common = dict(alpn_protocols=[ALPN], max_datagram_frame_size=65536, max_datagram_size=1452)
        server_cfg = QuicConfiguration(is_client=False, **common)
        server_cfg.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
        client_cfg = QuicConfiguration(is_client=True, verify_mode=ssl.CERT_NONE, **common)
        self.now = 0.0
        self.client = QuicConnection(configuration=client_cfg)
        self.server = QuicConnection(configuration=server_cfg,
                                     original_destination_connection_id=self.client.original_destination_connection_id)
        self.client.connect(SERVER, self.now)
        self.sender = RoqSender(self.client, flow_id=3, mode=mode)
        self.receiver = RoqReceiver(self.server, flows=flows, latency=latency)
        self.received = []
        self.client_events = []
        self.drop_to_server = False
        self.pump()

    def pump(self, rounds=20):
        for _ in range(rounds):
            moved = 0
            for data, _ in self.client.datagrams_to_send(self.now):
                moved += 1
                if not self.drop_to_server:
                    self.server.receive_datagram(data, CLIENT, self.now)
            for data, _ in self.server.datagrams_to_send(self.now):
                moved += 1
                self.client.receive_datagram(data, SERVER, self.now)
            while (event := self.server.next_event()) is not None:
                self.received += self.receiver.handle_event(event, self.now)
            while (event := self.client.next_event()) is not None:
                self.client_events.append(event)
                self.sender.handle_event(event)
            if not moved:
                return
            self.now += 0.001


def frame(index, kind=FrameKind.P, priority=3, deadline=1.0):
    return MediaFrame(index, kind, 0x100, "h264", 0.0, 0.0, deadline, priority=priority)


def rtp(seq, size=1000):
    return bytes([0x80, 33, seq >> 8, seq & 0xFF]) + bytes(8) + bytes([seq & 0xFF]) * size


def test_stream_per_frame_delivers_every_packet(tmp_path):
    pair = Pair(tmp_path)
    sent = []
    for f in range(5):
        fr = frame(f, FrameKind.IDR if f == 0 else FrameKind.P)
        for k in range(3):
            packet = rtp(f * 3 + k)
            sent.append(packet)
            assert pair.sender.send(packet, fr, pair.now)
        pair.sender.end_frame(fr)
        pair.pump()
    assert [p.data for p in pair.received] == sent
    assert {p.flow_id for p in pair.received} == {3}
    assert len({p.stream_id for p in pair.received}) == 5 == pair.sender.stats.streams_opened
    assert all(p.stream_id & 2 for p in pair.received)  # unidirectional streams only


@pytest.mark.parametrize("mode, streams, datagrams", [("stream", 1, 0), ("datagram", 0, 6),
                                                      ("hybrid", 1, 4)])
def test_other_modes(tmp_path, mode, streams, datagrams):
    pair = Pair(tmp_path, mode=mode)
    frames = [frame(0, FrameKind.IDR, 7), frame(1), frame(2)]
    for f in frames:
        for k in range(2):
            pair.sender.send(rtp(f.index * 2 + k), f, pair.now)
        pair.sender.end_frame(f)
    pair.pump()
    assert sorted(p.data for p in pair.received) == sorted(rtp(i) for i in range(6))
    assert pair.sender.stats.streams_opened == streams
    assert pair.sender.stats.datagrams == datagrams == pair.receiver.stats.datagrams


def test_late_frame_is_reset_with_frame_cancelled(tmp_path):
    pair = Pair(tmp_path)
    pair.drop_to_server = True          # the path goes dark: nothing is acknowledged
    late = frame(0, deadline=pair.now + 0.1)
    pair.sender.send(rtp(0), late, pair.now)
    pair.pump()
    assert pair.sender.expire(pair.now) == 0           # not yet due
    pair.now += 0.2
    assert pair.sender.expire(pair.now) == 1
    assert not pair.sender.send(rtp(1), late, pair.now)  # nothing more for a late frame
    assert pair.sender.stats.dropped_late == 1
    pair.drop_to_server = False
    pair.now += 1.0
    pair.client.handle_timer(pair.now)
    pair.pump()
    assert pair.receiver.stats.resets_received == 1
    # a delivered, acknowledged frame is not reset
    done = frame(1, deadline=pair.now + 0.05)
    pair.sender.send(rtp(2), done, pair.now)
    pair.sender.end_frame(done)
    pair.pump()
    pair.now += 0.1
    assert pair.sender.expire(pair.now) == 0 and pair.sender.stats.resets_sent == 1


def test_receiver_stops_streams_that_outlive_the_budget(tmp_path):
    pair = Pair(tmp_path, latency=0.05)
    slow = frame(0, deadline=10.0)
    pair.sender.send(rtp(0), slow, pair.now)  # never finished
    pair.pump()
    pair.now += 0.1
    assert pair.receiver.expire(pair.now) == 1
    pair.pump()
    stops = [e for e in pair.client_events if isinstance(e, StopSendingReceived)]
    assert stops and stops[0].error_code == RoqErrorCode.FRAME_CANCELLED
    assert pair.sender.stats.stop_sending_received == 1
    assert not pair.sender.send(rtp(1), slow, pair.now)


def test_unknown_flow_gets_stop_sending(tmp_path):
    pair = Pair(tmp_path, flows={1})
    pair.sender.send(rtp(0), frame(0), pair.now)
    pair.pump()
    assert pair.received == [] and pair.receiver.stats.unknown_flow == 1
    stops = [e for e in pair.client_events if isinstance(e, StopSendingReceived)]
    assert stops[0].error_code == RoqErrorCode.UNKNOWN_FLOW_ID


@pytest.mark.parametrize("stream_kind, payload, code", [
    ("bidi", encode_varint(3) + b"\x05hello", RoqErrorCode.STREAM_CREATION_ERROR),
    ("uni", encode_varint(3) + b"\x00", RoqErrorCode.PACKET_ERROR),
])
def test_protocol_violations_close_the_connection(tmp_path, stream_kind, payload, code):
    pair = Pair(tmp_path)
    sid = pair.client.get_next_available_stream_id(is_unidirectional=stream_kind == "uni")
    pair.client.send_stream_data(sid, payload)
    pair.pump()
    pair.now += 5.0  # past the draining period: aioquic reports the close then
    pair.client.handle_timer(pair.now)
    pair.pump()
    closed = [e for e in pair.client_events if isinstance(e, ConnectionTerminated)]
    assert closed and closed[0].error_code == code
    assert pair.receiver.stats.protocol_errors == 1


def test_key_frames_then_newer_frames_are_served_first(tmp_path):
    pair = Pair(tmp_path)
    frames = [frame(1), frame(2), frame(3, FrameKind.IDR, 7), frame(4)]
    for f in frames:
        pair.sender.send(rtp(f.index, size=1000), f, pair.now)
    pair.pump()
    first_seen = []
    for p in pair.received:
        if p.data[4 + 8] not in first_seen:
            first_seen.append(p.data[4 + 8])
    assert first_seen == [3, 4, 2, 1]


def test_hopeless_frame_is_reset_before_its_deadline(tmp_path):
    pair = Pair(tmp_path)
    loss = pair.client._loss
    loss._rtt_initialized, loss._rtt_smoothed = True, 0.1      # a 100 ms path
    rate = loss.congestion_window / 0.1
    big = frame(1, deadline=pair.now + 0.2)
    small = frame(2, FrameKind.IDR, 7, deadline=pair.now + 0.2)
    pair.sender.send(rtp(1, size=1200), small, pair.now)
    for k in range(int(rate * 0.3 / 1200)):                     # 0.3 s of data at this rate
        pair.sender.send(rtp(100 + k, size=1200), big, pair.now)
    assert pair.sender.expire(pair.now) == 1
    assert pair.sender.stats.resets_predicted == 1
    assert not pair.sender.send(rtp(99), big, pair.now)         # rest of it: dropped, no new stream
    assert pair.sender.stats.dropped_cancelled == 1 and pair.sender.stats.streams_opened == 2
    pair.pump()
    assert pair.receiver.stats.resets_received == 1
    assert any(p.data[12] == 1 for p in pair.received)          # the key frame got through


def test_ccfb_feedback_flows_back_to_the_sender(tmp_path):
    from strata_roq.roq.feedback import CcfbFeedback, RtcpChannel
    pair = Pair(tmp_path)
    feedback = CcfbFeedback(ssrc=77, interval=0.1)
    f = frame(0)
    for seq in range(5):
        pair.sender.send(rtp(seq), f, pair.now)
    pair.pump()
    for p in pair.received:
        feedback.on_rtp(p.data, p.arrival)
    report = feedback.poll(pair.now)
    assert report is not None and feedback.poll(pair.now) is None     # once per interval
    RtcpChannel(pair.server, flow_id=3).send(report)
    pair.pump()
    s = pair.sender.stats
    assert s.rtcp_received == 1 and s.ccfb_reports == 1 and s.ccfb_received == 5
    _, arrivals = pair.sender.feedback[-1]
    assert [seq for seq, t in arrivals[0] if t is not None] == [0, 1, 2, 3, 4]


def test_sender_reports_ride_an_rtcp_stream_that_is_never_stopped_as_late(tmp_path):
    from strata_roq.roq.feedback import RtcpChannel, SenderReports, transport_stats
    from strata_roq.rtp import rtcp as rtcp_mod
    pair = Pair(tmp_path, latency=0.05)
    channel = RtcpChannel(pair.client, flow_id=3)
    reports = SenderReports(ssrc=1234, interval=1.0)
    channel.send(reports.poll(pair.now, 1_700_000_000.0, 90000, 10, 13280))
    assert reports.poll(pair.now + 0.5, 0, 0, 0, 0) is None
    pair.pump()
    sr = rtcp_mod.parse_rtcp_compound(pair.received[-1].data)[0]
    assert isinstance(sr, rtcp_mod.SenderReport) and sr.ssrc == 1234 and sr.packet_count == 10
    pair.now += 0.5                                   # idle far longer than the budget
    assert pair.receiver.expire(pair.now) == 0
    stats = transport_stats(pair.client)
    assert stats["cwnd_bytes"] > 0 and stats["srtt_ms"] is not None
