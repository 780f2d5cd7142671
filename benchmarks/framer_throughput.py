"""TS framing throughput on one core: TsDemuxer (full PES reassembly) and the Framer.

Feeds a real 4 Mbit/s-class H.264+AAC stream from the test source (7×188-byte datagrams,
looped) and prints packets/s and Mbit/s. Target (issue 2): ≥ 1 Gbit/s through the Framer.
Run: .venv/bin/python benchmarks/framer_throughput.py [seconds]
"""

from __future__ import annotations

import struct
import sys
import time

from strata_roq.media.frames import Framer
from strata_roq.media.testsrc import TestSource
from strata_roq.media.ts import TsDemuxer


def make_stream(frames: int = 300) -> list[bytes]:
    source = TestSource(width=1280, height=720, fps=30, bitrate=8_000_000, gop=60)
    out: list[bytes] = []
    for i in range(frames):
        out += source.encode_frame(i * 33_333_333)
    return out + source.close()


def measure(name: str, datagrams: list[bytes], make, seconds: float) -> None:
    total_bytes = sum(len(d) for d in datagrams)
    loops = 0
    frames = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        core = make()
        push = core.push if hasattr(core, "push") else core.feed
        now = 0.0
        for d in datagrams:
            push(d, now)
        frames += len(core.flush())
        loops += 1
    elapsed = time.perf_counter() - start
    n = loops * len(datagrams)
    mbit = loops * total_bytes * 8 / elapsed / 1e6
    print(f"| {name:<28} | {n / elapsed:>12,.0f} datagrams/s | {n * 7 / elapsed:>12,.0f} TS packets/s "
          f"| {mbit:>8,.0f} Mbit/s |")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    datagrams = make_stream()
    size = sum(len(d) for d in datagrams)
    print(f"stream: {len(datagrams)} datagrams, {size * 8 / 10 / 1e6:.1f} Mbit/s for 10 s of video")
    measure("Framer (ts mode)", datagrams, lambda: Framer(latency=0.5), seconds)
    rtp = [struct.pack(">BBHII", 0x80, 33, i & 0xFFFF, i * 3000, 0x1234) + d
           for i, d in enumerate(datagrams)]
    measure("Framer (rtp mode, RTP/MP2T)", rtp, lambda: Framer(latency=0.5, mode="rtp"), seconds)
    measure("TsDemuxer (PES reassembly)", datagrams, TsDemuxer, seconds)


if __name__ == "__main__":
    main()
