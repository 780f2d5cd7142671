"""How long a command runs: until --duration passes or SIGINT/SIGTERM arrives, so that a
stopped command still prints its final stats instead of a traceback."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Callable


async def run_until_stopped(duration: float, interval: float,
                            on_tick: Callable[[], None] | None = None) -> None:
    """Call ``on_tick`` every ``interval`` s until ``duration`` s (0 = forever) or a signal."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-main thread
            pass
    start = time.monotonic()
    try:
        while not stop.is_set():
            left = duration - (time.monotonic() - start) if duration else interval
            if left <= 0:
                break
            try:
                await asyncio.wait_for(stop.wait(), min(interval, left))
            except asyncio.TimeoutError:
                pass
            if on_tick is not None:
                on_tick()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                pass
