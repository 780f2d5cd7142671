"""RoqSenderProtocol stamps each packet's send time with the clock read *before* the writes
that let it out: a process descheduled between its sendto and a later reading would date
packets late, and one too-short one-way delay becomes the path's minimum for 10 s."""

from __future__ import annotations

import asyncio
import ssl

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection

from strata_roq.io import roq as roq_io
from strata_roq.media.frames import MediaFrame
from strata_roq.media.nal import FrameKind
from strata_roq.roq.framing import ALPN


class _Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_packets_are_stamped_with_the_time_before_the_write(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(roq_io.time, "monotonic", clock)

    def slow_transmit(self) -> None:           # the writes take 50 ms (the CPU was lost)
        self._quic.datagrams_to_send(clock.now)
        clock.now += 0.05

    monkeypatch.setattr(QuicConnectionProtocol, "transmit", slow_transmit)

    async def run() -> list[tuple[int, float]]:
        quic = QuicConnection(configuration=QuicConfiguration(
            is_client=True, alpn_protocols=[ALPN], verify_mode=ssl.CERT_NONE))
        quic.connect(("127.0.0.1", 4433), clock.now)
        proto = roq_io.RoqSenderProtocol(quic, mode="datagram")
        wired: list[tuple[int, float]] = []
        proto.roq.on_wire = lambda seq, size, now: wired.append((seq, now))
        proto.roq._unwired_datagrams.append((7, 100))  # noqa: SLF001 - one waiting packet
        proto.transmit()
        proto._expiry.cancel()                          # noqa: SLF001
        return wired

    wired = asyncio.run(run())
    assert wired == [(7, 10.0)]                         # not 10.05
