"""The bonded driver keeps a live but unused path's QUIC connection from idling out: a spare
dish that Wi-Fi leaves idle must still be connected when the Wi-Fi dies."""

from __future__ import annotations

from strata_roq.io.bonded import KEEPALIVE_INTERVAL, BondedDriver
from strata_roq.media.frames import MediaFrame
from strata_roq.media.nal import FrameKind
from strata_roq.multipath.bonding import BondedSender
from strata_roq.multipath.path import Path
from strata_roq.sched import make_scheduler
from strata_roq.sched.base import SchedPacket


def test_an_idle_live_path_is_pinged_and_a_busy_or_dead_one_is_not(connection):
    fast, spare, dead = Path("wifi", 0), Path("leo", 1), Path("lte", 2)
    for p, rtt in ((fast, 0.02), (spare, 0.05), (dead, 0.03)):
        p.srtt, p.min_rtt = rtt, rtt
    dead.alive = False
    dead.reachable = False                      # no probes either: nothing at all goes there
    sender = BondedSender([fast, spare, dead], make_scheduler("minrtt"), initial_rate=1e9)
    driver = BondedDriver(sender.paths, sender, dial=None)
    conns = [connection() for _ in range(3)]
    driver.protocols = list(conns)
    seq, now = 0, 0.0
    while now < 5.0:                            # a packet every 10 ms, all on the fast path
        frame = MediaFrame(seq, FrameKind.P, 0x100, "h264", now, now, now + 0.5)
        driver._frames[seq] = frame              # noqa: SLF001
        driver._data[seq] = bytes(12)            # noqa: SLF001
        sender.push(SchedPacket(seq, 1200, seq, now + 0.5), now)
        driver._step(now)                        # noqa: SLF001
        sender.on_feedback(0, [(t.id, now) for t in list(sender._by_id.values())  # noqa: SLF001
                               if t.path == 0], now + 0.02)
        seq += 1
        now += 0.01
    assert conns[0].packets > 400 and conns[0].pings == 0
    assert conns[1].packets == 0
    assert 5.0 / KEEPALIVE_INTERVAL - 1 <= conns[1].pings <= 5.0 / KEEPALIVE_INTERVAL + 1
    assert conns[1].transmits >= conns[1].pings          # each PING actually goes out
    assert conns[2].pings == 0                           # a dead path is left to idle out
    assert driver.keepalives == conns[1].pings
