"""may_send: False only when an aioquic connection certainly has nothing to send — after an
ACK-only packet that acknowledged what it sent — and True whenever a frame is owed: an ACK,
new or lost stream data, a reset. The WebTransport server skips its packet-building pass
on exactly the False case."""

from __future__ import annotations

from strata_roq.io.webtransport import WebTransportProtocol
from strata_roq.roq.pending import may_send

CLIENT, SERVER = ("1.1.1.1", 1), ("2.2.2.2", 2)


def _settled(quic, tmp_path, start=0.0):
    client, server = quic.pair(tmp_path)
    events: list = []
    now = start
    for _ in range(10):
        quic.pump(client, server, now, events)
        now += 0.05
    return client, server, now


def _drain(server, now) -> tuple[list[bytes], float]:
    """Everything ``server`` sends, its pacer allowing, and the time it is done."""
    out = []
    for _ in range(100):
        batch = [d for d, _ in server.datagrams_to_send(now)]
        out += batch
        if not batch and server._pacing_at is None:   # noqa: SLF001
            return out, now
        now += 0.001
    raise AssertionError("the sender never finished")


def _to_server(client, server, now) -> int:
    n = 0
    for data, _ in client.datagrams_to_send(now):
        server.receive_datagram(data, CLIENT, now)
        n += 1
    return n


def test_an_idle_connection_has_nothing_to_send(quic, tmp_path):
    client, server, now = _settled(quic, tmp_path)
    assert not may_send(server)
    assert server.datagrams_to_send(now) == []


def test_an_ack_only_packet_that_acknowledges_everything_leaves_nothing(quic, tmp_path):
    client, server, now = _settled(quic, tmp_path)
    sid = server.get_next_available_stream_id(is_unidirectional=True)
    server.send_stream_data(sid, bytes(3000), end_stream=True)
    assert may_send(server)                       # new stream data
    sent, now = _drain(server, now)
    for data in sent:
        client.receive_datagram(data, SERVER, now)
    assert not may_send(server)                   # all sent, waiting for the ACK
    now += 0.03                                   # past the client's ACK delay
    client.handle_timer(now)
    assert _to_server(client, server, now) >= 1   # the client's ACK-only packet
    assert not may_send(server)
    assert server.datagrams_to_send(now) == []    # what skipping the pass would have built


def test_an_ack_eliciting_packet_owes_an_ack(quic, tmp_path):
    client, server, now = _settled(quic, tmp_path)
    sid = client.get_next_available_stream_id(is_unidirectional=True)
    client.send_stream_data(sid, b"hello", end_stream=True)
    _to_server(client, server, now)
    assert may_send(server)


def test_data_an_ack_declares_lost_is_owed_at_once(quic, tmp_path):
    client, server, now = _settled(quic, tmp_path)
    sid = server.get_next_available_stream_id(is_unidirectional=True)
    server.send_stream_data(sid, bytes(8000), end_stream=True)
    datagrams, now = _drain(server, now)
    assert len(datagrams) >= 5
    for data in datagrams[1:]:                    # the first one is lost
        client.receive_datagram(data, SERVER, now)
    now += 0.03
    client.handle_timer(now)
    _to_server(client, server, now)               # ACKs 3+ later packets: the first is lost
    assert may_send(server)
    assert server.datagrams_to_send(now)          # and the retransmission is built


def test_a_pending_reset_is_owed(quic, tmp_path):
    client, server, now = _settled(quic, tmp_path)
    sid = server.get_next_available_stream_id(is_unidirectional=True)
    server.send_stream_data(sid, bytes(100))
    sent, now = _drain(server, now)
    for data in sent:
        client.receive_datagram(data, SERVER, now)
    assert not may_send(server)
    server.reset_stream(sid, 0)
    assert may_send(server)


class _Loop:
    """The protocol's clock and timer, in virtual time."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def call_at(self, when, callback):
        return type("Handle", (), {"cancel": lambda self: None})()


async def test_the_web_server_builds_no_packets_for_an_ack_only_packet(quic, tmp_path):
    client, server, now = _settled(quic, tmp_path)
    proto = WebTransportProtocol(server)
    proto._loop = loop = _Loop(now)              # noqa: SLF001
    built, sent = [], []
    real = server.datagrams_to_send

    def spy(now):
        out = real(now)
        built.append(len(out))
        return out

    server.datagrams_to_send = spy
    proto.connection_made(type("T", (), {"sendto": lambda self, d, a: sent.append(d)})())
    sid = server.get_next_available_stream_id(is_unidirectional=True)
    server.send_stream_data(sid, bytes(1000), end_stream=True)
    while True:                                   # the pacer may spread it out
        proto.transmit()
        if server._pacing_at is None:             # noqa: SLF001
            break
        loop.now += 0.001
    passes = len(built)
    assert sent and not may_send(server)
    timer_before = proto._timer_at               # noqa: SLF001 - the loss timer is armed
    assert timer_before is not None
    loop.now += 0.001
    for data in sent:
        client.receive_datagram(data, SERVER, loop.now)
    loop.now += 0.03
    client.handle_timer(loop.now)
    acks = [d for d, _ in client.datagrams_to_send(loop.now)]
    assert acks
    for data in acks:
        proto.datagram_received(data, CLIENT)
    assert len(built) == passes                   # no pass: nothing was owed
    assert proto._timer_at != timer_before        # noqa: SLF001 - but the timer moved
    # an ack-eliciting packet still gets its pass
    csid = client.get_next_available_stream_id(is_unidirectional=True)
    client.send_stream_data(csid, b"x", end_stream=True)
    for data, _ in client.datagrams_to_send(loop.now):
        proto.datagram_received(data, CLIENT)
    assert len(built) == passes + 1
