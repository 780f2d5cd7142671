"""RTP/RTCP parse throughput on one core.

RTP/MP2T packets of 1328 bytes (12-byte header + 7×188 TS) through ``parse_rtp``, the
field peeks, and a typical RIST/librist SR+SDES compound through ``parse_rtcp_compound``.
Run: .venv/bin/python benchmarks/rtp_parse.py [seconds per case]
"""

from __future__ import annotations

import sys
import time

from strata_roq.rtp.packet import RtpPacket, parse_rtp, payload_bounds, peek_seq
from strata_roq.rtp.rtcp import ReportBlock, Sdes, SenderReport, build_rtcp_compound, parse_rtcp_compound


def bench(name: str, fn, items: list[bytes], seconds: float) -> None:
    size = sum(len(i) for i in items)
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for item in items:
            fn(item)
        count += 1
    elapsed = time.perf_counter() - start
    n = count * len(items)
    print(f"| {name:<34} | {n / elapsed:>12,.0f} packets/s | {count * size * 8 / elapsed / 1e6:>9,.0f} Mbit/s |")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.5
    rtp = [RtpPacket(33, i, i * 3000, 0x1234ABCE, bytes(1316)).build() for i in range(1000)]
    compound = build_rtcp_compound([
        SenderReport(0x1234ABCE, 0xE8D4A51000000000, 90000, 1000, 1_316_000,
                     [ReportBlock(0x55, 3, 10, 70000, 12, 0x1234, 0x20)]),
        Sdes.cname(0x1234ABCE, "strata-roq@gateway")])
    bench("parse_rtp (1328 B)", parse_rtp, rtp, seconds)
    bench("payload_bounds (1328 B)", payload_bounds, rtp, seconds)
    bench("peek_seq", peek_seq, rtp, seconds)
    bench(f"parse_rtcp_compound SR+SDES ({len(compound)} B)", parse_rtcp_compound,
          [compound] * 1000, seconds)


if __name__ == "__main__":
    main()
