"""asyncio adapters that run the RoQ sender/receiver cores on real UDP via aioquic."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration

from strata_roq.roq.framing import ALPN
from strata_roq.roq.receiver import RoqPacket, RoqReceiver
from strata_roq.roq.sender import RoqSender

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
        self._expiry = asyncio.get_running_loop().create_task(self._expire_loop())

    def quic_event_received(self, event) -> None:
        self.roq.handle_event(event)

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

    on_packet: Callable[[RoqPacket], None] = staticmethod(lambda packet: None)
    latency: float | None = None
    receivers: list[RoqReceiver] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.roq = RoqReceiver(self._quic, latency=self.latency)
        self.receivers.append(self.roq)

    def quic_event_received(self, event) -> None:
        for packet in self.roq.handle_event(event, time.monotonic()):
            self.on_packet(packet)
        if self.roq.latency is not None and self.roq.expire(time.monotonic()):
            self.transmit()


def receiver_protocol(on_packet: Callable[[RoqPacket], None], latency: float | None):
    """A RoqReceiverProtocol subclass bound to one callback (aioquic builds protocols)."""
    return type("BoundRoqReceiverProtocol", (RoqReceiverProtocol,),
                {"on_packet": staticmethod(on_packet), "latency": latency, "receivers": []})
