"""asyncio adapter for the sans-I/O RIST cores: sockets, the timer, and nothing else.

A :class:`RistDriver` owns one or more *port sets* (Main Profile: one UDP socket; Simple
Profile: an RTP socket on an even port and an RTCP socket on the next), feeds every datagram
to the core with its arrival time, sends what the core queues, and re-arms a single timer at
``core.next_timer()``. Replies to a peer leave from the socket that peer last reached.
"""

from __future__ import annotations

import asyncio
import socket
import time

from strata_roq.clock import wall_offset
from strata_roq.errors import UsageError
from strata_roq.io.udp import UdpSocket
from strata_roq.urls import Endpoint


def resolve(host: str, port: int) -> tuple[str, int]:
    """A numeric (ip, port): cores compare addresses with what recvfrom reports."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise UsageError(f"cannot resolve {host!r}: {exc.strerror}") from None
    info.sort(key=lambda i: i[0] != socket.AF_INET)
    return info[0][4][0], port


class RistDriver:
    def __init__(self, core, *, simple: bool, on_delivered=None) -> None:
        self.core = core
        self.simple = simple
        self.on_delivered = on_delivered
        self.sets: list[tuple[UdpSocket, UdpSocket | None]] = []
        self._route: dict[tuple[str, int], int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.wall_offset = wall_offset()

    async def add_port(self, bind: tuple[str, int]) -> tuple[str, int]:
        """Open a port set bound to ``bind`` (port 0: any; Simple Profile: an even pair)."""
        self._loop = asyncio.get_running_loop()
        index = len(self.sets)
        if not self.simple:
            sock = await UdpSocket.open(bind=bind, name=f"rist {bind}")
            sock.callback = lambda d, a, t, i=index: self._on_datagram(d, a, t, i, False)
            self.sets.append((sock, None))
            return sock.local_address
        for _ in range(50):
            data = await UdpSocket.open(bind=bind, name=f"rist rtp {bind}")
            port = data.local_address[1]
            if port % 2 == 0:
                try:
                    ctrl = await UdpSocket.open(bind=(bind[0], port + 1), name=f"rist rtcp {bind}")
                    break
                except UsageError:
                    if bind[1]:
                        data.close()
                        raise
            data.close()
            if bind[1]:
                raise UsageError(f"simple profile needs an even port, got {bind[1]}")
        else:
            raise UsageError("could not find a free even/odd UDP port pair")
        data.callback = lambda d, a, t, i=index: self._on_datagram(d, a, t, i, False)
        ctrl.callback = lambda d, a, t, i=index: self._on_datagram(d, a, t, i, True)
        self.sets.append((data, ctrl))
        return data.local_address

    async def add_peer_port(self, peer) -> None:
        """A port set of its own for a configured peer (one socket per output/path)."""
        await self.add_port(("0.0.0.0", 0))
        self._route[peer.addr] = self._route[peer.rtcp_addr] = len(self.sets) - 1

    def _on_datagram(self, data: bytes, addr, now: float, index: int, rtcp_socket: bool) -> None:
        addr = addr[:2]
        self._route[addr] = index
        self.core.datagram_received(data, addr, now, rtcp_socket)
        self.flush()

    def flush(self) -> None:
        for d in self.core.datagrams_to_send():
            data_sock, rtcp_sock = self.sets[self._route.get(d.addr, 0)]
            sock = rtcp_sock if d.rtcp and rtcp_sock is not None else data_sock
            sock.sendto(d.data, d.addr)
        if self.on_delivered is not None and hasattr(self.core, "take_delivered"):
            packets = self.core.take_delivered()
            if packets:
                self.on_delivered(packets)
        self._arm()

    def _arm(self) -> None:
        when = self.core.next_timer()
        if self._timer is not None:
            if when is not None and abs(self._timer.when() - when) < 1e-4:
                return
            self._timer.cancel()
            self._timer = None
        if when is not None and self._loop is not None:
            self._timer = self._loop.call_at(max(when, self._loop.time()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.core.handle_timer(time.monotonic())
        self.flush()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for data_sock, rtcp_sock in self.sets:
            data_sock.close()
            if rtcp_sock is not None:
                rtcp_sock.close()


def peer_address(ep: Endpoint) -> tuple[str, int]:
    return resolve(ep.host, ep.port)
