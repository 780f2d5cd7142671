"""Where the encoder rate signal goes: UDP datagrams (``--rate-to udp://host:port``, read by
``testsrc --rate-from`` or any script) and a shell hook (``--rate-command``) for external
encoders — run on every change with ``{rate}`` (bit/s) substituted and ``STRATA_RATE_BPS``
set, never two at once (a slow hook skips to the newest rate rather than queueing)."""

from __future__ import annotations

import asyncio
import logging
import os

from strata_roq.cc.rate_message import encode_rate
from strata_roq.io.udp import UdpSocket

log = logging.getLogger(__name__)


class RateOutput:
    def __init__(self, sockets: list[UdpSocket], command: str | None) -> None:
        self.sockets = sockets
        self.command = command
        self.told = 0
        self.key_requests = 0
        self.command_runs = 0
        self.command_failures = 0
        self._running: asyncio.Task | None = None
        self._pending: int | None = None
        self._last_rate: int | None = None

    @classmethod
    async def open(cls, targets, command: str | None) -> "RateOutput":
        socks = [await UdpSocket.open(peer=t.address, name=f"rate signal {t.url}") for t in targets]
        return cls(socks, command)

    def tell(self, rate: int, key_frame: bool = False) -> None:
        data = encode_rate(rate, key_frame)
        for sock in self.sockets:
            sock.sendto(data)
        self.told += 1
        self.key_requests += key_frame
        if self.command and rate != self._last_rate:
            self._last_rate = rate
            self._pending = rate
            if self._running is None or self._running.done():
                self._running = asyncio.ensure_future(self._run_hook())

    async def _run_hook(self) -> None:
        while self._pending is not None:
            rate, self._pending = self._pending, None
            cmd = self.command.replace("{rate}", str(rate))
            try:
                proc = await asyncio.create_subprocess_shell(
                    cmd, env={**os.environ, "STRATA_RATE_BPS": str(rate)},
                    stdout=asyncio.subprocess.DEVNULL)
                code = await proc.wait()
            except OSError as exc:
                code = exc.errno or 1
            self.command_runs += 1
            if code:
                self.command_failures += 1
                if self.command_failures == 1:
                    log.warning("--rate-command exited with %s (further failures only counted)",
                                code)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        if self._running is not None and not self._running.done():
            self._running.cancel()
