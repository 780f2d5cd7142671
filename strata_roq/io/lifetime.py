"""How long a command runs: until --duration passes or SIGINT/SIGTERM arrives, so that a
stopped command still prints its final stats instead of a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from typing import Callable, Iterator


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT/SIGTERM while the block runs (for loops that poll)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-main thread
            pass
    try:
        yield stop
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def run_until_stopped(duration: float, interval: float,
                            on_tick: Callable[[], None] | None = None) -> None:
    """Call ``on_tick`` every ``interval`` s until ``duration`` s (0 = forever) or a signal."""
    start = time.monotonic()
    with stop_on_signals() as stop:
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
