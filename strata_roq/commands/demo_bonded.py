"""The default demo: bonded contribution over three emulated networks on this machine.

    testsrc ─udp─▶ send ─┬─ roq ─▶ netsim "lte"  (synthetic LTE uplink trace, 30 ms) ─┐
                         ├─ roq ─▶ netsim "leo"  (20 Mbit/s, 0.7 s outage every 15 s) ├▶ receive ─udp─▶ probe
                         └─ roq ─▶ netsim "wifi" (12 Mbit/s, bursty loss, outages)   ─┘

Every box but the test source is a ``strata-roq`` subprocess, started in its own session so
that Ctrl-C reaches only the demo, which then stops them in order (source, then sender,
relays and receiver) and lets the probe report. A live view redraws once a second.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile

from strata_roq.commands.liveview import render
from strata_roq.commands.testsrc import stream
from strata_roq.netsim.synthetic import random_walk_rates, write_mahimahi
from strata_roq.urls import parse_endpoint


def emulated_paths(trace_file: str, duration: float) -> dict[str, list[str]]:
    """netsim arguments per path: an LTE uplink, a LEO dish, a flaky Wi-Fi."""
    leo, wifi = [], []
    t = 15.0
    while t < duration + 15:
        leo += ["--outage", f"{t - 0.3:g}:0.7"]          # satellite reconfiguration
        t += 15.0
    t = 8.0
    while t < duration + 20:
        wifi += ["--outage", f"{t:g}:1.5"]               # someone walks past the access point
        t += 20.0
    return {
        "lte": ["--trace", trace_file, "--delay", "30ms", "--loss", "0.5%", "--seed", "1"],
        "leo": ["--delay", "25ms", "--rate", "20M", "--jitter", "2ms", "--loss", "0.2%",
                "--seed", "2", *leo],
        "wifi": ["--delay", "8ms", "--rate", "12M", "--loss", "1%", "--burst", "4",
                 "--seed", "3", *wifi],
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    """A strata-roq subprocess whose stderr is kept (and read, so it never blocks)."""

    def __init__(self, name: str, proc) -> None:
        self.name = name
        self.proc = proc
        self.lines: list[str] = []
        self._reader: asyncio.Task | None = None

    @classmethod
    async def start(cls, name: str, *argv: str, ready: str, stdout=None) -> "Child":
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "strata_roq", *argv, stdout=stdout, stderr=subprocess.PIPE,
            start_new_session=True)
        child = cls(name, proc)
        while True:
            line = await asyncio.wait_for(proc.stderr.readline(), 30)
            if not line:
                raise RuntimeError(f"demo: {name} did not start: {' '.join(child.lines[-3:])}")
            child.lines.append(line.decode(errors="replace").rstrip())
            if ready in child.lines[-1]:
                break
        child._reader = asyncio.ensure_future(child._drain())
        return child

    async def _drain(self) -> None:
        async for line in self.proc.stderr:
            self.lines.append(line.decode(errors="replace").rstrip())
            del self.lines[:-200]

    def last_json(self, prefix: str) -> dict | None:
        for line in reversed(self.lines):
            if line.startswith(prefix + ": {"):
                return json.loads(line[len(prefix) + 2:])
        return None

    async def stop(self, timeout: float = 10.0) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader


def last_line(path: str) -> dict | None:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 65536))
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


async def bonded_demo(duration: float, options: dict, latency_ms: int, scheduler: str,
                      stop: asyncio.Event, as_json: bool,
                      cc: str = "delivery") -> tuple[dict, dict, dict]:
    """Run the pipeline; return (sent, probe report, extras for the verdict)."""
    work = tempfile.mkdtemp(prefix="strata-demo-")
    trace = os.path.join(work, "lte.up")
    write_mahimahi(random_walk_rates(120, 3e6, 9e6, seed=7), trace)
    send_stats, probe_stats = os.path.join(work, "send.jsonl"), os.path.join(work, "probe.jsonl")
    children: list[Child] = []
    try:
        probe = await Child.start("probe", "probe", "-i", "udp://@127.0.0.1:0", "--json",
                                  "--duration", str(duration + 60), "--idle", "3",
                                  "--stats-json", probe_stats, ready="listening on",
                                  stdout=subprocess.PIPE)
        children.append(probe)
        probe_port = int(probe.lines[-1].rsplit(":", 1)[1])
        rx_port, media_port = free_port(), free_port()
        children.append(await Child.start(
            "receive", "receive", "-i", f"roq://@127.0.0.1:{rx_port}", "-o",
            f"udp://127.0.0.1:{probe_port}", "--latency", str(latency_ms),
            ready="listening on"))
        outputs = []
        relays = []
        for name, extra in emulated_paths(trace, duration).items():
            relay = await Child.start(name, "netsim", "--listen", "127.0.0.1:0", "--to",
                                      f"127.0.0.1:{rx_port}", *extra, ready="relaying")
            port = int(relay.lines[-1].split(" -> ")[0].rsplit(":", 1)[1])
            outputs.append(f"roq://127.0.0.1:{port}?name={name}")
            relays.append(relay)
        children += relays
        sender = await Child.start(
            "send", "send", "-i", f"udp://@127.0.0.1:{media_port}", "-o", ",".join(outputs),
            "--insecure", "--latency", str(latency_ms), "--scheduler", scheduler, "--cc", cc,
            "--stats-json", send_stats, "--stats-interval", "500", ready="send:")
        children.append(sender)
        print(f"demo: {options['width']}x{options['height']}@{options['fps']} "
              f"{options['codec']} {options['bitrate'] / 1e6:g} Mbit/s over 3 emulated paths "
              f"(lte, leo, wifi), scheduler {scheduler}, pacing {cc}, budget {latency_ms} ms, "
              f"{duration:g} s — Ctrl-C stops", file=sys.stderr, flush=True)
        view = _View(sys.stderr.isatty() and not as_json)

        in_flight = round(options["fps"] * latency_ms / 1000)

        def progress(sent: dict) -> None:
            # Frames still within their budget are not counted as late yet.
            due = max(0, sent["frames"] - in_flight)
            view.show(render(sent["elapsed_s"], sent["frames"], due, last_line(send_stats),
                             last_line(probe_stats), latency_ms))

        sent = await stream([parse_endpoint(f"udp://127.0.0.1:{media_port}")], options,
                            duration, progress=progress, stop=stop)
        await asyncio.sleep(latency_ms / 1000 + 0.5)       # the last frames are in flight
        for child in [sender, *relays, children[1]]:
            await child.stop()
        out = await probe.proc.stdout.read()
        await probe.proc.wait()
        report = json.loads(out.decode() or "{}")
        relay_stats = {}
        for r in relays:
            final = r.last_json("netsim") or {}
            relay_stats[r.name] = {**final.get("forward", {}), "return_down_drops":
                                   final.get("backward", {}).get("down_drops", 0),
                                   "outages": sum(1 for x in r.lines if x == "netsim: down")}
        extras = {"send": sender.last_json("send") or {}, "paths": relay_stats,
                  "wire_bytes": sum(s.get("offered_bytes", 0) for s in relay_stats.values())}
        return sent, report, extras
    finally:
        for child in children:
            if child.proc.returncode is None:
                child.proc.kill()


class _View:
    """Redraw in place on a terminal; on a log, a summary line each second and the table
    every five."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.drawn = 0
        self.count = 0

    def show(self, lines: list[str]) -> None:
        self.count += 1
        if self.tty:
            if self.drawn:
                sys.stderr.write(f"\x1b[{self.drawn}F\x1b[J")
            sys.stderr.write("\n".join(lines) + "\n")
            self.drawn = len(lines)
        else:
            sys.stderr.write("\n".join(lines if self.count % 5 == 0 else lines[:1]) + "\n")
        sys.stderr.flush()
