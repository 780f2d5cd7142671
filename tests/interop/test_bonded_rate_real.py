"""The encoder rate loop over bonded paths: testsrc (ceiling 8 Mbit/s) → send over two
paths (2 Mbit/s at 15 ms, 3 Mbit/s at 20 ms, one netsim relay each) → receive → probe. The
signal is the two paths' safe rates together, less the bonding overhead: the encoder fills
both paths — more than either alone carries — and every picture arrives whole."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def test_the_encoder_is_told_what_the_bonded_paths_carry_together(rig, tmp_path):
    roq, media, out, rate = (rig.free_port() for _ in range(4))
    stats = tmp_path / "send.jsonl"
    probe = rig.start(rig.strata("probe", "-i", f"udp://@127.0.0.1:{out}", "--json",
                                 "--idle", "3", "--duration", "40", "-q"))
    rx = rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq}", "-o",
                              f"udp://127.0.0.1:{out}", "--latency", "800", "--duration", "20"),
                   ready="listening on")
    relays = [rig.start(rig.strata("netsim", "--listen", "127.0.0.1:0", "--to",
                                   f"127.0.0.1:{roq}", "--delay", delay, "--rate", bps,
                                   "--duration", "20"), ready="relaying")
              for delay, bps in (("15ms", "2M"), ("20ms", "3M"))]
    paths = ",".join(f"roq://127.0.0.1:{r.port()}?name={n}" for r, n in zip(relays, "ab"))
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{media}", "-o", paths,
                              "--insecure", "--latency", "800",
                              "--rate-to", f"udp://127.0.0.1:{rate}", "--rate-max", "8M",
                              "--rate-start", "1M", "--stats-json", str(stats),
                              "--stats-interval", "250", "--duration", "17"), ready="send:")
    src = rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media}", "--duration", "14",
                               "--size", "640x360", "--bitrate", "8M", "--gop", "30", "-q",
                               "--json", "--rate-from", f"udp://@127.0.0.1:{rate}"))
    encoder = json.loads(src.finish(timeout=60)[0])
    sent = rig.last_json(tx.finish(timeout=30)[1], "send")
    rx.finish(timeout=30)
    report = json.loads(probe.finish(timeout=60)[0])
    signal = [json.loads(line) for line in stats.read_text().splitlines()]
    steady = sorted(s["rate_signal_bps"] for s in signal if 6.0 <= s["elapsed_s"] <= 14.0)
    # above the wider path alone (3 Mbit/s), under the two together (5 Mbit/s)
    assert steady[len(steady) // 2] > 3.2e6, steady
    assert steady[int(0.9 * len(steady))] < 5.2e6, steady
    assert sent["rate_told"] > 20 and encoder["rate_errors"] == 0
    assert encoder["bitrate_targets"] and encoder["bitrate_targets"][0][1] < 1.5e6
    # the stream fits: every picture arrives whole
    video = report["video"]
    assert video["frames"] == 420 and video["decoded"] == 420, video
    assert video["reference_missing"] == 0 and video["corrupt"] == 0, video
    assert report["latency_ms"]["p95"] < 400, report["latency_ms"]
