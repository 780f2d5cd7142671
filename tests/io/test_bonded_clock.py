"""The bonded driver reads one injectable clock: driven in virtual time, the FEC layer's
question "which paths can still deliver this block's repair by its deadline?" is asked at
that time, so a block's repair symbols are spread over the paths (read from the wall clock,
every virtual deadline looked long past and no path qualified)."""

from __future__ import annotations

from strata_roq.fec.blocks import REPAIR_SEQ_BASE, FecSender
from strata_roq.fec.policy import ProtectionPolicy
from strata_roq.io.bonded import BondedDriver
from strata_roq.media.frames import MediaFrame
from strata_roq.media.nal import FrameKind
from strata_roq.multipath.bonding import BondedSender
from strata_roq.multipath.path import Path
from strata_roq.sched import make_scheduler
from strata_roq.sched.base import SchedPacket


def test_repair_is_spread_over_the_paths_in_virtual_time(connection):
    paths = [Path("a", 0), Path("b", 1)]
    for p in paths:
        p.seed_rtt(0.02)
    sender = BondedSender(paths, make_scheduler("storm", latency=0.5), initial_rate=1e9)
    seqs = iter(range(REPAIR_SEQ_BASE, 1 << 62))
    fec = FecSender(ProtectionPolicy("static"), 2, lambda: next(seqs), window=0.1)
    driver = BondedDriver(paths, sender, dial=None, ssrc=0x1234, fec=fec)
    clock = {"now": 0.0}
    driver.clock = lambda: clock["now"]
    conns = [connection(), connection()]
    driver.protocols = list(conns)
    frame = MediaFrame(0, FrameKind.IDR, 0x100, "h264", 0.0, 0.0, 0.5, priority=7)
    for n in range(20):                          # one key frame of 20 packets
        rtp = bytes((0x80, 33, 0, n)) + bytes(4) + (0x1234).to_bytes(4, "big") + bytes(1000)
        driver.push(SchedPacket(n + 1, len(rtp), 0, 0.5, 7, True, True), frame, rtp, 0.0)
    driver.end_frame(frame)                      # the key frame's block closes: repair made
    for step in range(20):
        clock["now"] = step * 0.002
        driver._step(clock["now"])               # noqa: SLF001 - what the driver's loop does
    assert fec.counters["repair_packets"] >= 4
    assert sum(c.repairs for c in conns) == fec.counters["repair_packets"]
    assert conns[0].repairs >= 2 and conns[1].repairs >= 2
