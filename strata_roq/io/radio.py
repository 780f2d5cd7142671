"""asyncio adapter for ``--path-metrics``: JSON lines from a file that keeps growing
(followed like ``tail -F``; it may appear later and may be rotated) or from UDP datagrams
(``udp://@:PORT``, one or more lines each), handed to a :class:`RadioFeed`."""

from __future__ import annotations

import asyncio
import logging
import os
import time

from strata_roq.multipath.radio import RadioFeed
from strata_roq.urls import parse_endpoint

log = logging.getLogger(__name__)
POLL_INTERVAL = 0.2


async def follow_metrics(source: str, feed: RadioFeed) -> None:
    """Run until cancelled."""
    if source.startswith("udp://"):
        await _follow_udp(source, feed)
    else:
        await _follow_file(source, feed)


async def _follow_udp(source: str, feed: RadioFeed) -> None:
    from strata_roq.io.udp import UdpSocket

    endpoint = parse_endpoint(source, ("udp",))
    sock = await UdpSocket.open(bind=endpoint.address, name="path metrics")

    def on_datagram(data: bytes, _addr, arrival: float) -> None:
        for line in data.splitlines():
            if line.strip():
                feed.feed(line, arrival)

    sock.callback = on_datagram
    try:
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            feed.expire(time.monotonic())
    finally:
        sock.close()


async def _follow_file(path: str, feed: RadioFeed) -> None:
    handle, inode, partial = None, None, b""
    warned = False
    try:
        while True:
            now = time.monotonic()
            try:
                st = os.stat(path)
                if handle is None or st.st_ino != inode or st.st_size < handle.tell():
                    if handle is not None:
                        handle.close()      # rotated or truncated: start on the new file
                    handle, inode, partial = open(path, "rb"), st.st_ino, b""  # noqa: SIM115
            except OSError:
                if not warned:
                    log.warning("--path-metrics %s: no such file yet; waiting for it", path)
                    warned = True
            if handle is not None:
                data = partial + handle.read()
                *lines, partial = data.split(b"\n")
                for line in lines:
                    if line.strip():
                        feed.feed(line, now)
            feed.expire(now)
            await asyncio.sleep(POLL_INTERVAL)
    finally:
        if handle is not None:
            handle.close()
