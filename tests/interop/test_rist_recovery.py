"""Recovery through the impairment relay (40 ms RTT, buffer 500 ms): Strata and librist on
either side, random and Gilbert-Elliott burst loss in both directions."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]

COUNT = 5000          # 1316-byte payloads every 1 ms: ~10.5 Mbit/s for 5 s
#: ... with a few uncounted packets before and after: RIST sees a gap only between packets it
#: has, so a loss of a stream's very first packets (before the receiver's first) or very last
#: ones (with nothing after) can never be NACKed — a live stream has neither edge. Measured
#: are the COUNT in between.
TAIL = 50
LEAD = 1_000_000          # indices of the packets sent before, out of the measured range
LOSS = {"random5": ["--loss", "5%"], "burst2x5": ["--loss", "2%", "--burst", "5"]}


@pytest.mark.parametrize("loss", list(LOSS))
@pytest.mark.parametrize("sender,receiver,target", [("strata", "strata", 0.9999),
                                                    ("librist", "strata", 0.999),
                                                    ("strata", "librist", 0.999)])
def test_recovery_through_lossy_relay(rig, tmp_path, sender, receiver, target, loss):
    rig.need("ristsender", "ristreceiver")
    rist_port, in_port, out_port = rig.free_port(), rig.free_port(), rig.free_port()
    stats_file = tmp_path / "stats.jsonl"
    collector = rig.Collector(out_port)
    if receiver == "strata":
        rx = rig.start(rig.strata("receive", "-i", f"rist://@127.0.0.1:{rist_port}?buffer=500",
                                  "-o", f"udp://127.0.0.1:{out_port}", "--duration", "12",
                                  "--stats-json", str(stats_file), "--stats-interval", "500"),
                       ready="listening on")
    else:
        rx = rig.start(["ristreceiver", "-i", f"rist://@127.0.0.1:{rist_port}?buffer=500",
                        "-o", f"udp://127.0.0.1:{out_port}"])
    relay = rig.start(rig.strata("netsim", "--listen", "127.0.0.1:0", "--to",
                                 f"127.0.0.1:{rist_port}", "--delay", "20ms", "--seed", "7",
                                 *LOSS[loss]), ready="relaying")
    relay_port = relay.port()
    if sender == "strata":
        tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{in_port}", "-o",
                                  f"rist://127.0.0.1:{relay_port}?buffer=500", "--duration", "10"),
                       ready="send:")
    else:
        tx = rig.start(["ristsender", "-i", f"udp://@127.0.0.1:{in_port}",
                        "-o", f"rist://127.0.0.1:{relay_port}?buffer=500"])
    time.sleep(1.0)
    rig.blast(in_port, [rig.payload(LEAD + i) for i in range(TAIL)], 0.001)
    rig.blast(in_port, COUNT + TAIL, 0.001)
    got = collector.wait()
    relay_stats = rig.last_json(relay.stop()[1], "netsim")
    tx.stop()
    expected = {i: rig.payload(i) for i in [*range(COUNT + TAIL), *range(LEAD, LEAD + TAIL)]}
    unique = {int.from_bytes(p[1:5], "big"): p for p in got}
    assert all(expected.get(i) == p for i, p in unique.items())          # nothing corrupted
    assert len(got) == len(unique)                                       # no duplicates out
    indices = [int.from_bytes(p[1:5], "big") for p in got]
    lead = [i for i in indices if i >= LEAD]
    assert indices == sorted(lead) + sorted(i for i in indices if i < LEAD)   # in order
    assert relay_stats["forward"]["lost"] > (COUNT * 0.01)                # the loss was real
    measured = [i for i in unique if i < COUNT]
    assert len(measured) >= target * COUNT, \
        (len(measured), sorted(set(range(COUNT)) - set(measured))[:20], relay_stats)
    if receiver == "strata":
        rx.finish()
        lines = [json.loads(x) for x in stats_file.read_text().splitlines()]
        final = lines[-1]["receiver-stats"]["flowinstant"]["stats"]
        assert final["recovered_total"] > 0 and final["missing"] >= final["recovered_total"]
        assert final["rtt"] == pytest.approx(40, abs=15)


def test_fec_between_strata_peers_on_a_long_path(rig, tmp_path):
    """rist://…?fec=25 between two Strata peers through a 300 ms-RTT relay with 2 % loss:
    the receiver rebuilds most losses from repair packets instead of waiting an RTT for a
    retransmission (counted as fec_recovered), and nothing is lost."""
    rist_port, in_port, out_port = rig.free_port(), rig.free_port(), rig.free_port()
    stats_file = tmp_path / "stats.jsonl"
    collector = rig.Collector(out_port)
    rx = rig.start(rig.strata("receive", "-i", f"rist://@127.0.0.1:{rist_port}?buffer=1000",
                              "-o", f"udp://127.0.0.1:{out_port}", "--duration", "10",
                              "--stats-json", str(stats_file), "--stats-interval", "500"),
                   ready="listening on")
    relay = rig.start(rig.strata("netsim", "--listen", "127.0.0.1:0", "--to",
                                 f"127.0.0.1:{rist_port}", "--delay", "150ms", "--seed", "7",
                                 "--loss", "2%", "--return-loss", "0"), ready="relaying")
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{in_port}", "-o",
                              f"rist://127.0.0.1:{relay.port()}?buffer=1000&fec=25",
                              "--duration", "9"), ready="send:")
    time.sleep(1.0)
    rig.blast(in_port, 3000, 0.001)
    got = collector.wait()
    relay.stop()
    tx.stop()
    unique = {int.from_bytes(p[1:5], "big") for p in got}
    assert len(unique) >= 0.9999 * 3000, len(unique)
    rx.finish()
    final = [json.loads(x) for x in stats_file.read_text().splitlines()][-1]
    stats = final["receiver-stats"]["flowinstant"]["stats"]
    assert stats["fec_packets"] > 500 and stats["fec_recovered"] > 20, stats
    assert stats["fec_recovered"] > stats["recovered_total"], stats
