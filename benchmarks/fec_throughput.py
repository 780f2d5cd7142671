"""FEC coding speed in-process: RaptorQ block encode/decode and cross-path XOR, Mbit/s of
media protected, for the block shapes the bonded sender uses; then the bonded sending
pipeline itself (BondedDriver + BondedSender + scheduler, sockets replaced by a sink that
acknowledges at once) with FEC off and on, so the cost FEC adds to sending shows as a ratio.

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
sys.path.insert(0, os.path.dirname(__file__))

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


class _Sink:
    """Stands in for a path's RoQ connection: takes packets, sends nothing."""

    def __init__(self) -> None:
        self.roq = self
        self._closed = _Never()
        self.packets = 0

    def send(self, data, frame, now) -> bool:
        self.packets += 1
        return True

    def send_redundancy(self, data) -> bool:
        self.packets += 1
        return True

    def end_frame(self, frame) -> None:
        pass

    def transmit(self) -> None:
        pass

    def keep_alive(self) -> None:
        pass


class _QuicPath:
    """A path's RoQ connection for real — aioquic on both ends, in memory (as in
    roq_throughput.py): the sender's QUIC + RoQ work and the receiver's are all counted."""

    def __init__(self, tmp: str, clock: dict) -> None:
        from roq_throughput import connect, pump

        from strata_roq.roq.receiver import RoqReceiver
        from strata_roq.roq.sender import RoqSender

        self._pump = pump
        self.client, self.server = connect(tmp)
        self.clock = clock
        self.received = 0
        for _ in range(50):
            if not pump(self.client, self.server, 0.0, lambda e: None):
                break
        self.receiver = RoqReceiver(self.server)
        self.roq = RoqSender(self.client, mode="frame")
        self._closed = _Never()

    def _on_event(self, event) -> None:
        self.received += len(self.receiver.handle_event(event, self.clock["now"]))

    def transmit(self) -> None:
        self._pump(self.client, self.server, self.clock["now"], self._on_event)

    def keep_alive(self) -> None:
        self.client.send_ping(0)


class _Never:
    def is_set(self) -> bool:
        return False


def pipeline(fec_mode: str, packets: int, quic: bool = False) -> tuple[float, float]:
    """(media Mbit/s, wire Mbit/s incl. repair) the sending pipeline sustains on one core
    (virtual time); ``quic``: over real in-memory aioquic connections instead of sinks."""
    from strata_roq.fec.blocks import REPAIR_SEQ_BASE, FecSender
    from strata_roq.fec.policy import ProtectionPolicy
    from strata_roq.io.bonded import BondedDriver
    from strata_roq.media.frames import MediaFrame
    from strata_roq.media.nal import FrameKind
    from strata_roq.multipath.bonding import BondedSender
    from strata_roq.multipath.path import Path
    from strata_roq.sched import make_scheduler
    from strata_roq.sched.base import SchedPacket

    paths = [Path("a"), Path("b")]
    sender = BondedSender(paths, make_scheduler("storm", latency=0.5), initial_rate=1e9,
                          feedback_interval=0.02)
    fec = None
    if fec_mode != "off":
        seqs = iter(range(REPAIR_SEQ_BASE, 1 << 62))
        fec = FecSender(ProtectionPolicy(fec_mode), 2, lambda: next(seqs), window=0.1)
    driver = BondedDriver(paths, sender, dial=None, ssrc=0x1234, fec=fec)
    clock = {"now": 0.0}
    if quic:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            driver.protocols = [_QuicPath(tmp, clock), _QuicPath(tmp, clock)]
    else:
        driver.protocols = [_Sink(), _Sink()]
    poll = sender.poll

    def poll_and_ack(now):
        out = poll(now)
        for t in out:                       # acknowledged 10 ms later, all of it
            sender.on_feedback(t.path, [(t.id, now + 0.01)], now + 0.01)
        return out

    sender.poll = poll_and_ack
    payload = bytes(1316)
    frame = None
    start = time.perf_counter()
    for n in range(packets):
        now = n * 0.0005                    # 2000 packets/s of virtual time = 21 Mbit/s
        clock["now"] = now
        if n % 10 == 0:
            index = n // 10
            kind = FrameKind.IDR if index % 60 == 0 else FrameKind.P
            frame = MediaFrame(index, kind, 0x100, "h264", now, now, now + 0.5,
                               priority=7 if kind == FrameKind.IDR else 3)
        rtp = bytes((0x80, 33, (n >> 8) & 0xFF, n & 0xFF)) + (n * 3000).to_bytes(4, "big") + \
            (0x1234).to_bytes(4, "big") + payload
        packet = SchedPacket(n + 1, len(rtp), frame.index, frame.deadline, frame.priority,
                             frame.priority >= 5, frame.kind == FrameKind.IDR)
        driver.push(packet, frame, rtp, now)
        if n % 10 == 9:
            driver.end_frame(frame)
        if n % 4 == 3:
            driver._step(now)               # noqa: SLF001 - what the driver's loop does
    elapsed = time.perf_counter() - start
    return packets * 1328 * 8 / elapsed / 1e6, sender.bytes_sent * 8 / elapsed / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--loss", type=float, default=0.1)
    ap.add_argument("--packets", type=int, default=20000, help="for the pipeline figures")
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
    for quic, label in ((False, "core only"), (True, "over aioquic")):
        print()
        off, off_wire = max(pipeline("off", args.packets, quic) for _ in range(2))
        print(f"{f'pipeline ({label}), FEC off':34} {off:8.0f} Mbit/s of media "
              f"({off_wire:.0f} on the wire)")
        for mode in ("static", "adaptive"):
            on, wire = max(pipeline(mode, args.packets, quic) for _ in range(2))
            print(f"{f'pipeline ({label}), FEC {mode}':34} {on:8.0f} Mbit/s of media "
                  f"({on / off:.2f}x FEC off; target >= 0.8x), {wire:.0f} on the wire "
                  f"({wire / off_wire:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
