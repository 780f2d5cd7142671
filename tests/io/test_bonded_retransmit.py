"""A packet the bonded sender sends again after a loss reaches the wire even when its
frame's stream on the chosen path already has its FIN (RoQ drops what comes after FIN: the
repair was lost silently and the key frame missed its deadline at a path's death)."""

from __future__ import annotations

from strata_roq.io.bonded import BondedDriver
from strata_roq.media.frames import MediaFrame
from strata_roq.media.nal import FrameKind
from strata_roq.multipath.bonding import BondedSender
from strata_roq.multipath.path import Path
from strata_roq.sched import make_scheduler
from strata_roq.sched.base import SchedPacket


def test_a_repair_after_the_frames_fin_goes_out_on_the_long_stream(connection):
    paths = [Path("a", 0), Path("b", 1)]
    for p, rtt in zip(paths, (0.02, 0.03)):
        p.seed_rtt(rtt)
    sender = BondedSender(paths, make_scheduler("storm", latency=0.5), initial_rate=1e9,
                          feedback_interval=0.025)
    driver = BondedDriver(paths, sender, dial=None, ssrc=0x1234)
    clock = {"now": 0.0}
    driver.clock = lambda: clock["now"]
    conns = [connection(), connection()]
    driver.protocols = list(conns)
    frame = MediaFrame(0, FrameKind.IDR, 0x100, "h264", 0.0, 0.0, 0.5, priority=7)
    for n in range(6):
        rtp = bytes((0x80, 33, 0, n)) + bytes(4) + (0x1234).to_bytes(4, "big") + bytes(1000)
        driver.push(SchedPacket(n + 1, len(rtp), 0, 0.5, 7, True, True), frame, rtp, 0.0)
    driver.end_frame(frame)
    for step in range(3):                        # sent (paced), then the FIN follows
        clock["now"] = step * 0.002
        driver._step(clock["now"])               # noqa: SLF001
    assert {seq for c in conns for seq, _ in c.sent} == set(range(6))
    assert all(0 in c.ended for c in conns)
    # Nothing is ever acknowledged: every packet is declared lost and sent again.
    for step in range(1, 40):
        clock["now"] = step * 0.01
        sender.check_timeouts(clock["now"])
        driver._step(clock["now"])               # noqa: SLF001
    again = [x for c in conns for x in c.sent if x[1] is None]
    assert sender.counters["arq"] >= 6
    assert {seq for seq, _ in again} == set(range(6))   # every one reached a connection
    assert sum(c.dropped for c in conns) == 0
