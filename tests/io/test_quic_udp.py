"""The batching QUIC server socket: one send per connection per read batch, a drop-in
transport for aioquic's server and protocols, counted sends."""

from __future__ import annotations

import asyncio
import socket
import ssl
from functools import partial

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.quic.configuration import QuicConfiguration

from strata_roq.certs import load_or_generate
from strata_roq.io.quic_udp import serve_batched


class _Protocol:
    def __init__(self, transport) -> None:
        self.transport = transport
        self.received = 0
        self.flushes = 0

    def flush_received(self) -> None:
        self.flushes += 1


class _Server:
    """Routes by source address, as aioquic's server routes by connection ID."""

    def __init__(self) -> None:
        self.protocols: dict = {}

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data, addr) -> None:
        proto = self.protocols.setdefault(addr, _Protocol(self.transport))
        proto.received += 1
        self.transport.defer(proto)


async def test_a_batch_of_datagrams_costs_each_connection_one_send():
    server, transport = await serve_batched("127.0.0.1", 0, _Server)
    a, b = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    try:
        target = transport.get_extra_info("sockname")
        for _ in range(5):
            a.sendto(b"ack", target)
        for _ in range(3):
            b.sendto(b"ack", target)
        await asyncio.sleep(0.05)            # one wake-up finds all eight waiting
        protos = sorted(server.protocols.values(), key=lambda p: p.received)
        assert [p.received for p in protos] == [3, 5]
        assert [p.flushes for p in protos] == [1, 1]
        assert transport.stats()["read_batches_with_sends"] == 1
        assert transport.stats()["batched_sends"] == 2
        a.sendto(b"ack", target)             # a later batch: a send of its own
        await asyncio.sleep(0.05)
        assert [p.flushes for p in protos] == [1, 2]
        assert transport.stats()["received"] == 9
    finally:
        a.close()
        b.close()
        transport.close()


class _Deferring(QuicConnectionProtocol):
    def datagram_received(self, data, addr) -> None:
        self._quic.receive_datagram(data, addr, now=self._loop.time())
        self._process_events()
        self._transport.defer(self)

    def flush_received(self) -> None:
        self.transmit()


async def _ping_through(create_protocol) -> dict:
    cert, key = load_or_generate(None, None)
    config = QuicConfiguration(is_client=False, alpn_protocols=["test"])
    config.load_cert_chain(cert, key)
    server, transport = await serve_batched(
        "127.0.0.1", 0, partial(QuicServer, configuration=config,
                                create_protocol=create_protocol))
    try:
        client_config = QuicConfiguration(is_client=True, alpn_protocols=["test"],
                                          verify_mode=ssl.CERT_NONE)
        port = transport.get_extra_info("sockname")[1]
        async with connect("127.0.0.1", port, configuration=client_config) as client:
            await asyncio.wait_for(client.ping(), 5)
        return transport.stats()
    finally:
        server.close()


async def test_aioquic_connections_handshake_and_answer_through_it():
    stats = await _ping_through(_Deferring)
    assert stats["batched_sends"] >= 2           # the handshake and the PING's answer
    assert stats["sent"] >= 2 and stats["send_drops"] == 0


async def test_aioquic_own_protocol_still_works_on_it():
    stats = await _ping_through(QuicConnectionProtocol)
    assert stats["batched_sends"] == 0 and stats["sent"] >= 2
