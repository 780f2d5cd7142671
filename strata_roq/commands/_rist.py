"""The RIST halves of ``strata-roq send`` and ``strata-roq receive`` (not a subcommand)."""

from __future__ import annotations

import asyncio
import json
import sys
import time

from strata_roq.errors import UsageError
from strata_roq.urls import Endpoint


def rist_config(endpoints: list[Endpoint]):
    """One configuration from the first URL; every URL must agree on the profile and secret."""
    from strata_roq.rist.config import RistConfig

    configs = [RistConfig.from_endpoint(ep) for ep in endpoints]
    first = configs[0]
    for ep, c in zip(endpoints[1:], configs[1:]):
        if (c.profile, c.secret, c.aes_bits) != (first.profile, first.secret, first.aes_bits):
            raise UsageError(f"{ep.url}: every rist:// URL must use the same profile and secret")
    return first


class StatsFile:
    """JSON lines every ``interval`` s, in librist's ``-S`` shape, with a bitrate figure."""

    def __init__(self, path: str | None, interval: float, kind: str) -> None:
        self.path, self.interval, self.kind = path, interval, kind
        self._last_bytes = 0
        self._last_time = time.monotonic()

    def line(self, stats: dict, byte_counter: str) -> dict:
        now = time.monotonic()
        total = stats.get(byte_counter, 0)
        dt = max(now - self._last_time, 1e-6)
        stats["bitrate"] = int(8 * (total - self._last_bytes) / dt)
        self._last_bytes, self._last_time = total, now
        peers = stats.pop("peers", [])
        key = "flowinstant" if self.kind == "receiver" else "peer"
        return {f"{self.kind}-stats": {key: {"peers": peers, "stats": stats}}}

    def write(self, record: dict) -> None:
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")


async def _run_for(args, report) -> None:
    from strata_roq.io.lifetime import run_until_stopped

    await run_until_stopped(args.duration, args.stats_interval / 1000.0, report)


async def open_rist_output(targets: list[Endpoint]):
    """A RIST sender for ``targets`` on its own sockets: returns (driver, core)."""
    from strata_roq.io.rist import RistDriver, resolve
    from strata_roq.rist.sender import RistSender

    config = rist_config(targets)
    listen = [t for t in targets if t.listen]
    outputs = [(resolve(t.host, t.port), t.get_int("weight", 0, minimum=0)) for t in targets
               if not t.listen]
    driver = RistDriver(None, simple=config.profile == "simple")
    core = RistSender(config, outputs, listen=bool(listen), wall_offset=driver.wall_offset)
    driver.core = core
    for ep in listen:
        await driver.add_port(ep.address)
    for peer in core.peers.values():
        await driver.add_peer_port(peer)
    driver.flush()  # first SR + SDES now: librist receivers wait for this handshake
    return driver, core


async def send_rist(args, source: Endpoint, targets: list[Endpoint]) -> int:
    from strata_roq.io.udp import UdpSocket
    from strata_roq.rtp.packet import parse_rtp

    driver, core = await open_rist_output(targets)
    config = core.config
    rtp_in = source.scheme == "rtp"
    counters = {"input_packets": 0, "input_errors": 0}

    def on_input(data: bytes, _addr, now: float) -> None:
        counters["input_packets"] += 1
        if rtp_in:
            try:
                packet = parse_rtp(data)
            except Exception:
                counters["input_errors"] += 1
                return
            core.send(packet.payload, now, packet.timestamp)
        else:
            core.send(data, now)
        driver.flush()

    sock = await UdpSocket.open(bind=source.address, name="input")
    sock.callback = on_input
    stats_file = StatsFile(args.stats_json, args.stats_interval / 1000.0, "sender")
    if not args.quiet:
        print(f"send: {source.url} -> {', '.join(t.url for t in targets)} "
              f"(rist {config.profile} profile{', AES-%d' % config.aes_bits if config.secret else ''})",
              file=sys.stderr, flush=True)

    def report() -> None:
        stats_file.write(stats_file.line({**core.stats_dict(time.monotonic()), **counters},
                                         "bytes_sent"))

    try:
        await _run_for(args, report)
    finally:
        sock.close()
        driver.close()
    if not args.quiet:
        print("send: " + json.dumps({**core.stats_dict(time.monotonic()), **counters}),
              file=sys.stderr)
    return 0


async def open_rist_input(sources: list[Endpoint], on_delivered):
    """A RIST receiver on ``sources`` handing each delivered RTP packet list to
    ``on_delivered``: returns (driver, core, bound (host, port) list)."""
    from strata_roq.io.rist import RistDriver, resolve
    from strata_roq.rist.receiver import RistReceiver

    config = rist_config(sources)
    driver = RistDriver(None, simple=config.profile == "simple", on_delivered=on_delivered)
    connect = [resolve(s.host, s.port) for s in sources if not s.listen]
    core = RistReceiver(config, connect_to=connect, wall_offset=driver.wall_offset)
    driver.core = core
    bound = []
    for s in sources:
        if s.listen:
            bound.append(await driver.add_port(s.address))
    for peer in core.peers.values():
        await driver.add_peer_port(peer)
    driver.flush()
    return driver, core, bound


async def receive_rist(args, sources: list[Endpoint], target: Endpoint) -> int:
    from strata_roq.io.rist import resolve
    from strata_roq.io.udp import UdpSocket
    from strata_roq.rtp.packet import payload_bounds

    config = rist_config(sources)
    out = await UdpSocket.open(peer=resolve(target.host, target.port), name="output")
    strip = target.scheme == "udp"

    def forward(packets: list[bytes]) -> None:
        for data in packets:
            if strip:
                start, end = payload_bounds(data)
                data = data[start:end]
            out.sendto(data)

    driver, core, bound = await open_rist_input(sources, forward)
    if not args.quiet:
        where = ", ".join(f"rist://@{h}:{p}" for h, p in bound) or ", ".join(s.url for s in sources)
        print(f"receive: listening on {where} -> {target.url} (rist {config.profile} profile)",
              file=sys.stderr, flush=True)
    stats_file = StatsFile(args.stats_json, args.stats_interval / 1000.0, "receiver")

    def report() -> None:
        stats_file.write(stats_file.line(core.stats_dict(time.monotonic()), "bytes_received"))

    try:
        await _run_for(args, report)
    finally:
        driver.close()
        out.close()
    if not args.quiet:
        print("receive: " + json.dumps(core.stats_dict(time.monotonic())), file=sys.stderr)
    return 0
