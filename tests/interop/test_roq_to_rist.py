"""RoQ in, RIST out: Strata send (UDP → RoQ) → Strata receive (RoQ → RIST) → ristreceiver."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def test_roq_receive_hands_on_as_rist_to_ristreceiver(rig, tmp_path):
    rig.need("ristreceiver")
    rist_port, roq_port, in_port, out_port = (rig.free_port(even=True), rig.free_port(),
                                              rig.free_port(), rig.free_port())
    payloads = rig.real_ts(tmp_path / "in.ts")
    collector = rig.Collector(out_port)
    rr = rig.start(["ristreceiver", "-i", f"rist://@127.0.0.1:{rist_port}",
                    "-o", f"udp://127.0.0.1:{out_port}"])
    gw = rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq_port}",
                              "-o", f"rist://127.0.0.1:{rist_port}", "--duration", "8"),
                   ready="listening on")
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{in_port}",
                              "-o", f"roq://127.0.0.1:{roq_port}?mode=stream", "--insecure",
                              "--duration", "6"), ready="send:")
    time.sleep(1.0)
    rig.blast(in_port, payloads, 0.002)
    got = collector.wait()
    rr.stop()
    tx.finish()
    stats = rig.last_json(gw.finish()[1], "receive")
    assert got == payloads, (len(got), len(payloads))
    assert stats["rist"]["sent"] == len(payloads) and stats["rist"]["peers"][0]["cname"]
