"""The kernel's receive stamp of the last datagram a plain socket read: a datagram that waited
in the socket while the reader was busy keeps the time it arrived."""

from __future__ import annotations

import socket
import time

import pytest

from strata_roq.io.receive_stamp import ReceiveStamps


@pytest.fixture
def sockets():
    """(receiver bound on loopback, sender, the receiver's stamps)."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    yield rx, tx, ReceiveStamps(rx)
    rx.close()
    tx.close()


def test_a_datagram_that_waited_keeps_its_arrival_time(sockets):
    rx, tx, stamps = sockets
    assert stamps.arrival(5.0) == 5.0               # nothing received yet: no stamp
    assert stamps.unstamped == 1                    # ... but stamping is asked for: the
    time.sleep(0.1)                                 # kernel turns it on a moment later
    for wait in (0.05, 0.12):
        tx.sendto(b"rtp", rx.getsockname())
        time.sleep(wait)                            # the reader is busy elsewhere
        assert rx.recv(100) == b"rtp"
        now = time.monotonic()
        age = now - stamps.arrival(now)
        assert wait - 0.002 < age < wait + 0.05, (wait, age)
    assert stamps.stamped == 2


def test_a_stamp_that_is_not_this_datagram_s_is_not_used(sockets):
    rx, tx, stamps = sockets
    stamps.arrival(0.0)
    time.sleep(0.1)                                 # (stamping on: see above)
    tx.sendto(b"old", rx.getsockname())
    rx.recv(100)
    time.sleep(1.1)                                 # asked long after: not a fresh read
    assert stamps.arrival(7.0) == 7.0 and stamps.unstamped == 2
