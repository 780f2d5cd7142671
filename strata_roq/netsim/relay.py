"""A UDP impairment relay: forwards datagrams between clients and one target through two
emulated :class:`Link` s (client→target "forward", target→client "backward").

Each client address gets its own upstream socket, like a NAT, so a bonded sender's several
sockets stay distinguishable at the target and replies find their way back. The links are
shared: all clients see one bottleneck per direction. Timers use the event loop's clock
(monotonic), the same clock the links are told.
"""

from __future__ import annotations

import asyncio

from strata_roq.io.udp import UdpSocket
from strata_roq.netsim.link import Link


class UdpImpairmentRelay:
    def __init__(self, listen: tuple[str, int], target: tuple[str, int], forward: Link,
                 backward: Link) -> None:
        self.listen = listen
        self.target = target
        self.forward = forward
        self.backward = backward
        self._front: UdpSocket | None = None
        self._upstream: dict[tuple[str, int], UdpSocket] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> tuple[str, int]:
        self._loop = asyncio.get_running_loop()
        self._front = await UdpSocket.open(bind=self.listen, name="netsim front")
        self._front.callback = self._from_client
        return self._front.local_address

    @property
    def local_address(self) -> tuple[str, int]:
        assert self._front is not None
        return self._front.local_address

    def _from_client(self, data: bytes, addr, now: float) -> None:
        addr = addr[:2]
        up = self._upstream.get(addr)
        if up is None:
            asyncio.ensure_future(self._open_upstream(addr, data, now))
            return
        self._send(self.forward, data, now, ("fwd", addr))

    async def _open_upstream(self, client, data: bytes, now: float) -> None:
        if client not in self._upstream:
            sock = await UdpSocket.open(bind=("127.0.0.1" if self.target[0].startswith("127.")
                                              else "0.0.0.0", 0), name=f"netsim up {client}")
            sock.callback = lambda d, a, t, c=client: self._send(self.backward, d, t, ("back", c))
            self._upstream[client] = sock
        self._send(self.forward, data, now, ("fwd", client))

    def _send(self, link: Link, data: bytes, now: float, route) -> None:
        link.send((data, route), now, len(data))
        self._arm()

    def _arm(self) -> None:
        times = [t for t in (self.forward.next_time(), self.backward.next_time()) if t is not None]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if times and self._loop is not None:
            self._timer = self._loop.call_at(min(times), self._fire)

    def _fire(self) -> None:
        self._timer = None
        assert self._loop is not None
        now = self._loop.time()
        for data, (_, client) in self.forward.poll(now):
            self._upstream[client].sendto(data, self.target)
        for data, (_, client) in self.backward.poll(now):
            if self._front is not None:
                self._front.sendto(data, client)
        self._arm()

    def stats(self) -> dict:
        return {"forward": self.forward.stats.as_dict(), "backward": self.backward.stats.as_dict(),
                "clients": len(self._upstream)}

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._front is not None:
            self._front.close()
        for sock in self._upstream.values():
            sock.close()
