"""FEC coding speed in-process: RaptorQ block encode/decode and cross-path XOR, Mbit/s of
media protected, for the block shapes the bonded sender uses.

Encode = build one block's repair symbols from its source packets; decode = rebuild a block
from its surviving sources and enough repair symbols with ``loss`` of the sources missing.

    .venv/bin/python benchmarks/fec_throughput.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from strata_roq.fec.raptor import BlockDecoder, BlockEncoder  # noqa: E402
from strata_roq.fec.xor import parity, recover  # noqa: E402

PACKET = 1328


def _rate(fn, media_bytes: int, seconds: float) -> float:
    fn()                                   # warm up
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n * media_bytes * 8 / (time.perf_counter() - start) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--loss", type=float, default=0.1)
    args = ap.parse_args()
    rng = random.Random(1)
    print(f"{'coder':28} {'encode Mbit/s':>14} {'decode Mbit/s':>14}")
    for k, overhead in ((10, 0.2), (30, 0.2), (64, 0.2), (64, 0.5)):
        packets = [rng.randbytes(PACKET) for _ in range(k)]
        r = max(1, round(k * overhead))
        repairs = BlockEncoder(packets).repair(r)
        lost = set(rng.sample(range(k), min(r, max(1, round(k * args.loss)))))

        def encode():
            BlockEncoder(packets).repair(r)

        def decode():
            dec = BlockDecoder(k, repairs and len(repairs[0]) - 4)
            for i, p in enumerate(packets):
                if i not in lost:
                    dec.add_source(i, p)
            for s in repairs:
                if dec.result is not None:
                    break
                dec.add_repair(s)
            assert dec.result is not None

        print(f"{f'RaptorQ k={k} +{overhead:.0%}':28} {_rate(encode, k * PACKET, args.seconds):14.0f} "
              f"{_rate(decode, k * PACKET, args.seconds):14.0f}", flush=True)
    for k in (2, 4):
        group = [rng.randbytes(PACKET) for _ in range(k)]
        par = parity(group)
        received = [None] + group[1:]
        print(f"{f'XOR k={k} +1':28} {_rate(lambda: parity(group), k * PACKET, args.seconds):14.0f} "
              f"{_rate(lambda: recover(received, par), k * PACKET, args.seconds):14.0f}", flush=True)


if __name__ == "__main__":
    main()
