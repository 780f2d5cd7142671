"""asyncio UDP adapter: the only place (with its siblings in ``io/``) that touches sockets.

A :class:`UdpSocket` wraps one datagram endpoint. Received datagrams are stamped with the
arrival time from the injected clock and queued (bounded); overflow is counted, never silent.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque

from strata_roq.clock import Clock, RealClock
from strata_roq.errors import UsageError

log = logging.getLogger(__name__)

#: Kernel buffer we ask for: a few hundred ms of a 100 Mbit/s stream.
SOCKET_BUFFER = 8 * 1024 * 1024


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: "UdpSocket") -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        self.owner._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # e.g. ICMP port unreachable when the peer is not up yet: count it, keep going.
        self.owner.send_errors += 1
        if self.owner.send_errors == 1:
            log.warning("UDP %s: %s (further errors only counted)", self.owner.name, exc)


class UdpSocket:
    """One UDP socket with an awaitable, bounded receive queue."""

    def __init__(self, name: str, clock: Clock | None = None, max_queue: int = 65536) -> None:
        self.name = name
        self.clock = clock or RealClock()
        self.max_queue = max_queue
        self.transport: asyncio.DatagramTransport | None = None
        self._queue: deque[tuple[bytes, tuple, float]] = deque()
        self._waiter: asyncio.Future | None = None
        self.received = 0
        self.sent = 0
        self.queue_drops = 0
        self.send_errors = 0
        self.default_peer: tuple[str, int] | None = None
        #: When set, datagrams go straight to ``callback(data, addr, arrival)`` (no queue):
        #: for protocol cores that must answer at once (RIST NACKs, RTCP).
        self.callback = None

    # -- construction -------------------------------------------------------------------
    @classmethod
    async def open(cls, *, bind: tuple[str, int] | None = None,
                   peer: tuple[str, int] | None = None, name: str | None = None,
                   clock: Clock | None = None, device: str | None = None) -> "UdpSocket":
        """Bind to ``bind`` (listen) and/or send to ``peer`` by default."""
        self = cls(name or f"udp {bind or peer}", clock)
        family = socket.AF_INET6 if ":" in ((bind or peer or ("",))[0] or "") else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
            except OSError:  # pragma: no cover - kernel limits
                pass
        if device:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode() + b"\0")
            except OSError as exc:
                sock.close()
                raise UsageError(f"cannot bind to device {device!r}: {exc.strerror}") from None
        try:
            sock.bind(bind if bind else ("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
        except OSError as exc:
            sock.close()
            raise UsageError(f"cannot bind UDP {bind[0] if bind else ''}:{bind[1] if bind else 0}: "
                             f"{exc.strerror}") from None
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self.default_peer = peer
        return self

    @property
    def local_address(self) -> tuple[str, int]:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[:2]

    # -- data ---------------------------------------------------------------------------
    def _on_datagram(self, data: bytes, addr) -> None:
        self.received += 1
        if self.callback is not None:
            self.callback(data, addr, self.clock.now())
            return
        if len(self._queue) >= self.max_queue:
            self.queue_drops += 1
            return
        self._queue.append((data, addr, self.clock.now()))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def sendto(self, data: bytes | memoryview, addr: tuple[str, int] | None = None) -> None:
        target = addr or self.default_peer
        if target is None:
            raise ValueError(f"{self.name}: no peer address to send to")
        assert self.transport is not None
        self.transport.sendto(data, target)
        self.sent += 1

    def pending(self) -> int:
        return len(self._queue)

    def get_nowait(self) -> tuple[bytes, tuple, float] | None:
        """Next queued (data, addr, arrival time), or None."""
        return self._queue.popleft() if self._queue else None

    async def recv(self, timeout: float | None = None) -> tuple[bytes, tuple, float] | None:
        """Wait for the next datagram; None on timeout or when closed."""
        while not self._queue:
            if self.transport is None or self.transport.is_closing():
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, timeout)
            except asyncio.TimeoutError:
                return None
            finally:
                self._waiter = None
        return self._queue.popleft()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
