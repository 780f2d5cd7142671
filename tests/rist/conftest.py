"""A virtual-time loop joining sans-I/O RIST cores, with per-direction loss and delay."""

from __future__ import annotations

import heapq
import itertools
import random

import pytest


class Net:
    """Delivers core datagrams after ``delay`` s, dropping them by ``loss(direction, data)``.

    Hosts are named strings; a core's socket is (host, port). The sender lives at
    ("tx", 5000[/5001]), receivers at ("rx", 6000[/6001]) etc.
    """

    def __init__(self, delay: float = 0.01, seed: int = 1) -> None:
        self.delay = delay
        self.now = 0.0
        self.rng = random.Random(seed)
        self._events: list = []
        self._ids = itertools.count()
        self.nodes: dict[str, tuple[object, int, bool]] = {}   # host -> (core, base port, main)
        self.dropped = {"fwd": 0, "back": 0}
        self.loss = lambda direction, data: False
        self.blocked: set[str] = set()                         # hosts whose traffic vanishes

    def add(self, host: str, core, port: int, main: bool) -> None:
        self.nodes[host] = (core, port, main)

    def at(self, when: float, fn) -> None:
        heapq.heappush(self._events, (when, next(self._ids), fn))

    def _flush(self, host: str) -> None:
        core, port, main = self.nodes[host]
        for d in core.datagrams_to_send():
            src = (host, port + (1 if d.rtcp and not main else 0))
            dst_host = d.addr[0]
            if dst_host not in self.nodes or host in self.blocked or dst_host in self.blocked:
                continue
            direction = "fwd" if host.startswith("tx") else "back"
            if self.loss(direction, d.data):
                self.dropped[direction] += 1
                continue
            dst_core, dst_port, _ = self.nodes[dst_host]
            rtcp_socket = d.addr[1] != dst_port
            self.at(self.now + self.delay,
                    lambda c=dst_core, data=d.data, s=src, r=rtcp_socket, h=dst_host:
                    self._deliver(c, data, s, r, h))

    def _deliver(self, core, data, src, rtcp_socket, host) -> None:
        core.datagram_received(data, src, self.now, rtcp_socket)
        self._flush(host)

    def run_until(self, end: float) -> None:
        while True:
            timers = []
            for host, (core, _, _) in self.nodes.items():
                t = core.next_timer()
                if t is not None:
                    timers.append((max(t, self.now), host))
            next_event = self._events[0][0] if self._events else None
            next_timer = min(timers) if timers else None
            candidates = [t for t in (next_event, next_timer and next_timer[0]) if t is not None]
            if not candidates or min(candidates) > end:
                self.now = end
                return
            if next_event is not None and (next_timer is None or next_event <= next_timer[0]):
                when, _, fn = heapq.heappop(self._events)
                self.now = max(self.now, when)
                fn()
            else:
                self.now = max(self.now, next_timer[0])
                for host, (core, _, _) in self.nodes.items():
                    t = core.next_timer()
                    if t is not None and t <= self.now:
                        core.handle_timer(self.now)
                        self._flush(host)

    def stream(self, host: str, payloads, interval: float, start: float = 0.0) -> None:
        core = self.nodes[host][0]
        for i, payload in enumerate(payloads):
            def send(p=payload):
                core.send(p, self.now)
                self._flush(host)
            self.at(start + i * interval, send)


@pytest.fixture
def rist_net():
    return Net


@pytest.fixture
def ts_payloads():
    """n distinct 7 × 188-byte TS-like payloads."""
    def make(n: int) -> list[bytes]:
        return [bytes([0x47]) + i.to_bytes(4, "big") + bytes((i * 7 + k) & 0xFF for k in range(1311))
                for i in range(n)]
    return make
