"""A QUIC server socket that works in batches: aioquic's ``QuicServer`` fed by a
:class:`~strata_roq.io.udp.UdpSocket` instead of asyncio's datagram transport.

A fan-out server mostly sends; what it receives is acknowledgements, several per viewer per
frame. asyncio's transport reads one datagram per event-loop wake-up (a ``select`` call and a
callback each), and aioquic's protocol builds packets after every datagram. Here each wake-up
drains the socket (up to ``READ_BATCH`` datagrams), and a connection whose protocol *defers*
(calls ``transport.defer(self)`` instead of transmitting) sends once, after the whole batch:
two ACKs from one viewer cost one packet-building pass, not two. Sends go straight to the
socket; a full socket buffer queues them (bounded, counted) as ``UdpSocket`` does.

Protocols that do not defer (aioquic's own) transmit per datagram as before: the transport
is a drop-in for them.
"""

from __future__ import annotations

import logging

from strata_roq.io.udp import UdpSocket

log = logging.getLogger(__name__)


class BatchTransport:
    """What aioquic's server and protocols see as their transport: ``sendto``, ``close``,
    ``get_extra_info`` — and ``defer``, for protocols that send once per read batch."""

    def __init__(self, udp: UdpSocket) -> None:
        self.udp = udp
        self._deferred: dict = {}          # protocols owed a send, in arrival order
        self.batches = 0                   # read batches that had deferred protocols
        self.flushes = 0                   # deferred sends done (one per protocol per batch)

    def sendto(self, data, addr=None) -> None:
        self.udp.sendto(data, addr)

    def defer(self, protocol) -> None:
        """``protocol.flush_received()`` once this read batch is done (once however many of
        the batch's datagrams were its)."""
        self._deferred[protocol] = None

    def flush(self) -> None:
        """Run the deferred sends: the end of a read batch."""
        if not self._deferred:
            return
        deferred, self._deferred = self._deferred, {}
        self.batches += 1
        for protocol in deferred:
            self.flushes += 1
            try:
                protocol.flush_received()
            except Exception:                # one connection's failure is not the others'
                log.exception("QUIC connection failed while sending")

    def get_extra_info(self, name: str, default=None):
        if name == "sockname":
            return self.udp.local_address
        return default

    def is_closing(self) -> bool:
        return self.udp.closed

    def close(self) -> None:
        self._deferred.clear()
        self.udp.close()

    def abort(self) -> None:
        self.close()

    def stats(self) -> dict:
        u = self.udp
        return {"received": u.received, "sent": u.sent, "send_deferred": u.send_deferred,
                "send_drops": u.send_drops, "send_errors": u.send_errors,
                "read_batches_with_sends": self.batches, "batched_sends": self.flushes}


async def serve_batched(host: str, port: int, server_factory, *,
                        name: str | None = None) -> tuple[object, BatchTransport]:
    """Bind ``host:port`` and run ``server_factory()`` (e.g. a ``functools.partial`` of
    aioquic's ``QuicServer``) on it in batches. Returns (server, transport)."""
    udp = await UdpSocket.open(bind=(host, port), name=name or f"quic {host}:{port}")
    transport = BatchTransport(udp)
    server = server_factory()
    server.connection_made(transport)
    receive = server.datagram_received
    udp.callback = lambda data, addr, now: receive(data, addr)
    udp.after_batch = transport.flush
    return server, transport
