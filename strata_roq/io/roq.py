"""asyncio adapters that run the RoQ sender/receiver cores on real UDP via aioquic."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated

from strata_roq.io.receive_stamp import ReceiveStamps
from strata_roq.roq.feedback import (CCFB_INTERVAL, BONDED_CCFB_INTERVAL, SINGLE_CCFB_INTERVAL,
                                    CcfbFeedback, RtcpChannel)
from strata_roq.roq.framing import ALPN
from strata_roq.roq.receiver import RoqPacket, RoqReceiver
from strata_roq.roq.sender import RoqSender
from strata_roq.rtp.packet import is_rtcp


def random_ssrc() -> int:
    import os
    return int.from_bytes(os.urandom(4), "big")

#: QUIC packet size used on the wire: room for a 1328-byte RTP/MP2T packet in one DATAGRAM.
#: aioquic does no path-MTU discovery, so this is a setting (``mtu=`` on the URL).
DEFAULT_MTU = 1452
EXPIRE_INTERVAL = 0.005


def make_configuration(is_client: bool, *, cert: str | None = None, key: str | None = None,
                       insecure: bool = False, keylog: str | None = None,
                       mtu: int = DEFAULT_MTU, server_name: str | None = None) -> QuicConfiguration:
    import ssl

    config = QuicConfiguration(is_client=is_client, alpn_protocols=[ALPN],
                               max_datagram_frame_size=65536, max_datagram_size=mtu,
                               idle_timeout=10.0, server_name=server_name)
    if is_client and insecure:
        config.verify_mode = ssl.CERT_NONE
    if cert:
        config.load_cert_chain(cert, key)
    if keylog:
        config.secrets_log_file = open(keylog, "a", encoding="utf-8")  # noqa: SIM115
    return config


class RoqSenderProtocol(QuicConnectionProtocol):
    """Client side: owns a :class:`RoqSender`; expires late frames on a short timer."""

    def __init__(self, *args, mode: str = "frame", flow_id: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.roq = RoqSender(self._quic, flow_id=flow_id, mode=mode)
        self.rtcp = RtcpChannel(self._quic, flow_id)   # Sender Reports (draft §5.4)
        self.handshake_time = 0.0      # seconds from the first Initial to connected
        self._expiry = asyncio.get_running_loop().create_task(self._expire_loop())

    def quic_event_received(self, event) -> None:
        self.roq.handle_event(event, time.monotonic())

    def datagram_received(self, data, addr) -> None:
        self.roq.heard(time.monotonic())
        super().datagram_received(data, addr)

    def transmit(self) -> None:
        # Packets that leave now are stamped with the time *before* the writes: a process
        # that loses the CPU between its sendto and the stamp after it would date them late,
        # and one such too-short one-way delay, kept as the path's minimum for 10 s, read
        # as a standing queue on every packet after it (every round "busy", the capacity
        # the delivery rate less its idle gaps). Early only ever lengthens a delay.
        before = time.monotonic()
        super().transmit()
        self.roq.on_transmitted(before)              # which packets have now left

    def keep_alive(self) -> None:
        """A QUIC PING (acknowledged, so it also restarts the peer's idle timer); the caller
        transmits. (aioquic's protocol offers only an awaitable ping.)"""
        self._quic.send_ping(0)

    def transport_rate(self, rtt: float | None = None) -> float | None:
        """Bytes/s the connection lets through now: its congestion window over its round
        trip (``rtt`` until QUIC has a sample of its own). The window starts at ten packets
        and grows each round trip, so on a long path this is far below the link's rate."""
        loss = self._quic._loss  # noqa: SLF001 - aioquic keeps its window there
        if loss._rtt_initialized:  # noqa: SLF001
            rtt = loss._rtt_smoothed  # noqa: SLF001
        return loss.congestion_window / rtt if rtt else None

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(EXPIRE_INTERVAL)
            if self.roq.expire(time.monotonic()):
                self.transmit()

    def connection_lost(self, exc) -> None:
        self._expiry.cancel()
        super().connection_lost(exc)


class RoqReceiverProtocol(QuicConnectionProtocol):
    """Server side: owns a :class:`RoqReceiver` and hands packets to ``on_packet``."""

    #: Called with (packet, this protocol) for every RTP/RTCP packet received.
    on_packet: Callable[[RoqPacket, "RoqReceiverProtocol"], None] = \
        staticmethod(lambda packet, conn: None)
    #: Called with this protocol once its connection is gone.
    on_closed: Callable[["RoqReceiverProtocol"], None] = staticmethod(lambda conn: None)
    latency: float | None = None
    receivers: list[RoqReceiver] = []
    instances: list["RoqReceiverProtocol"] = []
    #: Send RFC 8888 CCFB back to the sender every this many seconds (None: no feedback).
    feedback_interval: float | None = CCFB_INTERVAL
    #: Set once the connection joins a bonded session: faster feedback (see the loop).
    bonded = False
    #: Kernel receive stamps of the server socket (set by the first connection).
    stamps: ReceiveStamps | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.roq = RoqReceiver(self._quic, latency=self.latency)
        self.receivers.append(self.roq)
        self.instances.append(self)
        self.feedback = CcfbFeedback(random_ssrc(), self.feedback_interval or CCFB_INTERVAL) \
            if self.feedback_interval else None
        self.rtcp = RtcpChannel(self._quic)
        self._gone = False
        self._arrival: float | None = None   # the datagram being processed reached us then
        self._feedback_timer = asyncio.get_running_loop().create_task(self._feedback_loop()) \
            if self.feedback is not None else None

    async def _feedback_loop(self) -> None:
        """Report arrivals even when no further packets come (the end of a stream)."""
        while True:
            # Every quarter round trip, but at least every 100 ms and at most every 25 ms on
            # a bonded session's path, 50 ms on a single one (see CCFB_INTERVAL): a 600 ms
            # satellite gains nothing from more, and its sender took it for lossy and left it.
            loss = self._quic._loss  # noqa: SLF001 - aioquic exposes no public RTT
            rtt = loss._rtt_smoothed if loss._rtt_initialized else 0.1  # noqa: SLF001
            shortest = BONDED_CCFB_INTERVAL if self.bonded else SINGLE_CCFB_INTERVAL
            self.feedback.interval = min(CCFB_INTERVAL, max(shortest, rtt / 4))
            await asyncio.sleep(self.feedback.interval)
            report = self.feedback.poll(time.monotonic())
            if report is not None:
                self.rtcp.send(report)
                self.transmit()

    def _ended(self) -> None:
        """The connection is gone (aioquic's server never calls connection_lost, so this runs
        on ConnectionTerminated too): stop the timer, tell the owner once."""
        if self._feedback_timer is not None:
            self._feedback_timer.cancel()
            self._feedback_timer = None
        if not self._gone:
            self._gone = True
            self.on_closed(self)

    def connection_lost(self, exc) -> None:
        self._ended()
        super().connection_lost(exc)

    def close_with(self, code: int, reason: str) -> None:
        """Close this connection with a RoQ application error (§7)."""
        self._quic.close(error_code=code, reason_phrase=reason)
        self.transmit()

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and self.stamps is None:
            type(self).stamps = ReceiveStamps(sock)   # one per server socket

    def datagram_received(self, data, addr) -> None:
        # the kernel's stamp of this very datagram: asyncio has just read it
        self._arrival = self.stamps.arrival(time.monotonic()) if self.stamps else None
        try:
            super().datagram_received(data, addr)
        finally:
            self._arrival = None

    def quic_event_received(self, event) -> None:
        now = time.monotonic()
        if isinstance(event, ConnectionTerminated):
            self._ended()
            return
        # Feedback reports when the packet reached the host; everything else acts now.
        arrival = self._arrival if self._arrival is not None else now
        for packet in self.roq.handle_event(event, now):
            if self.feedback is not None and not is_rtcp(packet.data):
                self.feedback.on_rtp(packet.data, arrival)
            self.on_packet(packet, self)
        report = self.feedback.poll(now) if self.feedback is not None else None
        if report is not None:
            self.rtcp.send(report)
            self.transmit()
        if self.roq.latency is not None and self.roq.expire(now):
            self.transmit()


def receiver_protocol(on_packet, latency: float | None,
                      feedback_interval: float | None = CCFB_INTERVAL,
                      on_closed=None):
    """A RoqReceiverProtocol subclass bound to callbacks (aioquic builds protocols)."""
    return type("BoundRoqReceiverProtocol", (RoqReceiverProtocol,),
                {"on_packet": staticmethod(on_packet), "latency": latency, "receivers": [],
                 "instances": [], "feedback_interval": feedback_interval,
                 "on_closed": staticmethod(on_closed or (lambda conn: None))})
