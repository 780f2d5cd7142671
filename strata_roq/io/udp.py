"""asyncio UDP adapter: the only place (with its siblings in ``io/``) that touches sockets.

A :class:`UdpSocket` wraps one datagram endpoint. Each readiness wake-up drains the socket in
one batch (recvmmsg-style; Python has no recvmmsg), and every datagram is stamped with the
*kernel's* arrival time (``SO_TIMESTAMPNS``) mapped onto the injected clock: a packet's age
starts when it reached the host, not when a busy event loop got round to it, so deadlines
and latency measurements stay honest under CPU load. Received datagrams are queued
(bounded); overflow is counted, never silent. A ``callback`` consumer (a protocol core that
answers at once) is instead called with the clock's ``now`` — cores need time that never runs
backwards, and they act now, whenever the packet came. Sends that meet a full socket buffer wait in
a bounded backlog until the socket is writable.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections import deque

from strata_roq.clock import Clock, RealClock, WallClock
from strata_roq.errors import UsageError

log = logging.getLogger(__name__)

#: Kernel buffer we ask for: a few hundred ms of a 100 Mbit/s stream.
SOCKET_BUFFER = 8 * 1024 * 1024
#: Linux ``SO_TIMESTAMPNS`` (= ``SCM_TIMESTAMPNS``); the socket module does not export it.
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@qq")
#: Datagrams read per wake-up at most, so one busy socket cannot starve the loop.
READ_BATCH = 256
#: Datagrams waiting for a writable socket at most; beyond that sends are dropped (counted).
MAX_BACKLOG = 4096
#: Kernel stamps further than this from the wall clock at read time are not trusted (s).
MAX_STAMP_SKEW = 10.0


def kernel_arrival(ancdata) -> float | None:
    """Unix time at which the kernel received the datagram, from ``recvmsg`` ancillary data."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return sec + nsec * 1e-9
    return None


def _arrival_mapper(clock: Clock):
    """A function (kernel Unix time or None, clock now, Unix now) -> arrival on ``clock``.

    The kernel stamps on the real-time clock; a monotonic clock gets the stamp shifted by
    the offset between the two, sampled once per batch. A clock we cannot map (a virtual
    one) just reads ``now``; so does a missing stamp or one that is implausible (more than
    ``MAX_STAMP_SKEW`` away, e.g. the wall clock was stepped)."""
    if isinstance(clock, (WallClock, RealClock)):
        wall_clock = isinstance(clock, WallClock)

        def arrival(kernel: float | None, now: float, wall: float) -> float:
            if kernel is None or abs(kernel - wall) > MAX_STAMP_SKEW:
                return now
            return kernel if wall_clock else now + (kernel - wall)
    else:
        def arrival(kernel: float | None, now: float, wall: float) -> float:
            return now
    return arrival


class UdpSocket:
    """One UDP socket with an awaitable, bounded receive queue."""

    def __init__(self, name: str, clock: Clock | None = None, max_queue: int = 65536) -> None:
        self.name = name
        self.clock = clock or RealClock()
        self.max_queue = max_queue
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrival = _arrival_mapper(self.clock)
        self._queue: deque[tuple[bytes, tuple, float]] = deque()
        self._backlog: deque[tuple[bytes, tuple]] = deque()
        self._waiter: asyncio.Future | None = None
        self.received = 0
        self.sent = 0
        self.queue_drops = 0
        self.send_errors = 0
        self.send_drops = 0       # backlog full: the socket stayed unwritable too long
        self.send_deferred = 0    # sends that met a full socket buffer and had to wait
        self.default_peer: tuple[str, int] | None = None
        #: When set, datagrams go straight to ``callback(data, addr, arrival)`` (no queue):
        #: for protocol cores that must answer at once (RIST NACKs, RTCP).
        self.callback = None
        #: When set, called after every read batch that had datagrams: a consumer that
        #: deferred per-datagram work (a QUIC server's sends) does it once per batch.
        self.after_batch = None

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
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:  # pragma: no cover - not Linux: arrivals are stamped on read
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
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._read_ready)
        self.default_peer = peer
        return self

    @property
    def closed(self) -> bool:
        return self._sock is None

    @property
    def local_address(self) -> tuple[str, int]:
        assert self._sock is not None
        return self._sock.getsockname()[:2]

    # -- data ---------------------------------------------------------------------------
    def _read_ready(self) -> None:
        """Drain what the kernel holds (up to READ_BATCH datagrams) in one wake-up."""
        sock = self._sock
        if sock is None:
            return
        now, wall = self.clock.now(), time.time()
        arrival = self._arrival
        got = 0
        try:
            for _ in range(READ_BATCH):
                try:
                    data, anc, _flags, addr = sock.recvmsg(65535, 64)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    # e.g. ICMP port unreachable for an earlier send: count it, keep reading.
                    self._send_error(exc)
                    continue
                self.received += 1
                got += 1
                if self.callback is not None:
                    # A core answering at once (RIST NACKs, a relay's emulated link) is driven
                    # by its clock, which must never run backwards: it gets the time it runs at.
                    self.callback(data, addr, self.clock.now())
                    if self._sock is None:
                        return               # the callback closed us: the batch ends here
                    continue
                self._on_datagram(data, addr, arrival(kernel_arrival(anc), now, wall))
        finally:
            if got and self.after_batch is not None and self._sock is not None:
                self.after_batch()

    def _on_datagram(self, data: bytes, addr, arrival: float) -> None:
        if len(self._queue) >= self.max_queue:
            self.queue_drops += 1
            return
        self._queue.append((data, addr, arrival))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _send_error(self, exc: OSError) -> None:
        self.send_errors += 1
        if self.send_errors == 1:
            log.warning("UDP %s: %s (further errors only counted)", self.name, exc)

    def sendto(self, data: bytes | memoryview, addr: tuple[str, int] | None = None) -> None:
        target = addr or self.default_peer
        if target is None:
            raise ValueError(f"{self.name}: no peer address to send to")
        if self._sock is None:
            return
        self.sent += 1
        if self._backlog:
            self._queue_send(data, target)
            return
        try:
            self._sock.sendto(data, target)
        except (BlockingIOError, InterruptedError):
            self._queue_send(data, target)
        except OSError as exc:
            self._send_error(exc)

    def _queue_send(self, data, target) -> None:
        self.send_deferred += 1
        if len(self._backlog) >= MAX_BACKLOG:
            self.send_drops += 1
            return
        if not self._backlog:
            self._loop.add_writer(self._sock.fileno(), self._write_ready)
        self._backlog.append((bytes(data), target))

    def _write_ready(self) -> None:
        backlog = self._backlog
        while backlog:
            data, target = backlog[0]
            try:
                self._sock.sendto(data, target)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._send_error(exc)
            backlog.popleft()
        self._loop.remove_writer(self._sock.fileno())

    def pending(self) -> int:
        return len(self._queue)

    def get_nowait(self) -> tuple[bytes, tuple, float] | None:
        """Next queued (data, addr, arrival time), or None."""
        return self._queue.popleft() if self._queue else None

    async def recv(self, timeout: float | None = None) -> tuple[bytes, tuple, float] | None:
        """Wait for the next datagram; None on timeout or when closed."""
        while not self._queue:
            if self._sock is None:
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
        sock, self._sock = self._sock, None
        if sock is not None:
            fd = sock.fileno()
            self._loop.remove_reader(fd)
            if self._backlog:
                self._loop.remove_writer(fd)
                self.send_drops += len(self._backlog)
                self._backlog.clear()
            sock.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
