"""The UDP adapter: kernel arrival stamps, batched reads, counted errors, send backlog."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from strata_roq.clock import RealClock, VirtualClock, WallClock
from strata_roq.io.udp import UdpSocket, kernel_arrival


async def _pair(clock=None):
    rx = await UdpSocket.open(bind=("127.0.0.1", 0), clock=clock)
    tx = await UdpSocket.open(peer=rx.local_address)
    return rx, tx


@pytest.mark.parametrize("clock", [RealClock(), WallClock()])
async def test_arrival_is_when_the_kernel_got_it_not_when_a_busy_loop_read_it(clock):
    rx, tx = await _pair(clock)
    try:
        # Linux turns receive timestamping on asynchronously when the first socket asks for
        # it; until then a packet is stamped when read. One round trip lets it take effect.
        tx.sendto(b"warm-up")
        await rx.recv(timeout=1.0)
        await asyncio.sleep(0.05)
        sent = clock.now()
        tx.sendto(b"x")
        time.sleep(0.15)            # the event loop is busy elsewhere (e.g. decoding)
        data, _addr, arrival = await rx.recv(timeout=1.0)
        assert data == b"x"
        assert arrival - sent < 0.02, arrival - sent
        assert arrival <= clock.now()
    finally:
        rx.close()
        tx.close()


async def test_virtual_clock_arrivals_read_the_clock():
    clock = VirtualClock(start=123.0)
    rx, tx = await _pair(clock)
    try:
        tx.sendto(b"v")
        assert (await rx.recv(timeout=1.0))[2] == 123.0
    finally:
        rx.close()
        tx.close()


async def test_a_burst_is_read_in_order_and_counted():
    rx, tx = await _pair()
    try:
        for i in range(1000):
            tx.sendto(i.to_bytes(4, "big"))
        got = []
        while len(got) < 1000:
            item = await rx.recv(timeout=1.0)
            assert item is not None, len(got)
            got.append(int.from_bytes(item[0], "big"))
        assert got == list(range(1000))
        assert rx.received == 1000 and tx.sent == 1000
    finally:
        rx.close()
        tx.close()


async def test_sending_to_a_dead_port_never_raises_and_the_socket_keeps_working():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()
    sock = await UdpSocket.open(bind=("127.0.0.1", 0), peer=dead)
    other = await UdpSocket.open(peer=sock.local_address)
    try:
        for _ in range(3):
            sock.sendto(b"?")
            assert await sock.recv(timeout=0.02) is None
        other.sendto(b"still here")
        assert (await sock.recv(timeout=1.0))[0] == b"still here"
    finally:
        sock.close()
        other.close()


class _FullOnce:
    """A socket whose buffer is full for the first ``n`` sends."""

    def __init__(self, real, n):
        self.real, self.n = real, n

    def sendto(self, data, target):
        if self.n:
            self.n -= 1
            raise BlockingIOError
        return self.real.sendto(data, target)

    def __getattr__(self, name):
        return getattr(self.real, name)


async def test_sends_that_meet_a_full_buffer_wait_and_keep_their_order():
    rx, tx = await _pair()
    try:
        real = tx._sock  # noqa: SLF001
        tx._sock = _FullOnce(real, 1)  # noqa: SLF001
        for i in range(5):
            tx.sendto(bytes([i]))
        got = [(await rx.recv(timeout=1.0))[0] for _ in range(5)]
        assert got == [bytes([i]) for i in range(5)]
        assert tx.send_drops == 0 and not tx._backlog  # noqa: SLF001
        tx._sock = real  # noqa: SLF001
    finally:
        rx.close()
        tx.close()


def test_kernel_arrival_parses_a_timespec_and_ignores_other_messages():
    import struct
    anc = [(socket.SOL_SOCKET, 99, b"junk"), (socket.SOL_SOCKET, 35, struct.pack("@qq", 5, 250_000_000))]
    assert kernel_arrival(anc) == pytest.approx(5.25)
    assert kernel_arrival([]) is None


async def test_a_callback_core_is_given_the_time_it_runs_at_never_earlier():
    # cores answering at once (RIST, the relay's links) need a clock that never runs back
    rx, tx = await _pair()
    seen = []
    rx.callback = lambda data, addr, now: seen.append((now, RealClock().now()))
    try:
        tx.sendto(b"a")
        time.sleep(0.1)             # arrived long before the loop reads it
        for _ in range(50):
            if seen:
                break
            await asyncio.sleep(0.01)
        [(given, after)] = seen
        assert after - given < 0.01            # "now", not the kernel's stamp 100 ms back
    finally:
        rx.close()
        tx.close()


async def test_a_callback_that_closes_the_socket_ends_the_batch_quietly():
    rx, tx = await _pair()
    got = []

    def on_datagram(data, addr, now):
        got.append(data)
        rx.close()

    rx.callback = on_datagram
    try:
        for i in range(3):
            tx.sendto(bytes([i]))
        for _ in range(50):
            if got:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.02)
        assert got == [b"\x00"] and rx.send_errors == 0
    finally:
        tx.close()
