"""The kernel's receive time of the datagram a socket delivered last, for sockets whose reads
asyncio does itself (aioquic's server): ``SIOCGSTAMPNS`` right after the read.

The receiver's congestion feedback (CCFB) reports each packet's arrival time, and the sender's
delay-based estimate reads queueing from it. Stamped when a busy event loop got round to the
datagram, a receiver waiting for the CPU would look to the sender like a queue on the path
(and the spacing of arrivals, like the bottleneck's pace, would be the loop's). The kernel's
stamp is when the datagram reached the host. (:class:`~strata_roq.io.udp.UdpSocket` gets
the same from ``SO_TIMESTAMPNS``; asyncio's own datagram transport drops ancillary data.)
"""

from __future__ import annotations

import fcntl
import socket
import time

from strata_roq.io.udp import _TIMESPEC

#: Linux ``SIOCGSTAMPNS``: the last datagram's receive time as a timespec. The first call
#: turns timestamping on; the kernel does so a moment later (deferred work), and a datagram
#: that came before reads as received at the call (age 0: no harm).
SIOCGSTAMPNS = 0x8907
#: A stamp older than this at read time is not this datagram's (s).
MAX_AGE = 1.0


class ReceiveStamps:
    def __init__(self, sock: socket.socket) -> None:
        # (Not SO_TIMESTAMPNS: with it the stamp goes to ancillary data asyncio drops, and
        # the ioctl finds none.)
        self._fd = sock.fileno()
        self.stamped = 0            # arrivals taken from the kernel
        self.unstamped = 0          # the kernel had none (the first datagram) or it was stale

    def arrival(self, now: float) -> float:
        """The last datagram's arrival on the clock ``now`` reads (monotonic), or ``now``."""
        try:
            sec, nsec = _TIMESPEC.unpack(fcntl.ioctl(self._fd, SIOCGSTAMPNS, bytes(16)))
        except OSError:
            self.unstamped += 1
            return now
        age = time.time() - (sec + nsec * 1e-9)
        if not 0.0 <= age < MAX_AGE:
            self.unstamped += 1
            return now
        self.stamped += 1
        return now - age
