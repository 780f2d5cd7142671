"""Layer thinning on real sockets: testsrc (3 Mbit/s CBR H.264, one non-reference B-frame
between references) → send → a bottleneck that falls from 4 to 2.4 Mbit/s (a 40 % cut, 15 ms
one way) → receive → probe. send drops the disposable pictures once its safe-rate estimate
falls under the media rate: the stream arrives at a lower frame rate, within its budget,
and every delivered picture has all its references (without thinning, ~90 pictures arrive
predicting from a lost one)."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def test_a_40_percent_cut_thins_the_stream_and_it_stays_decodable(rig, tmp_path):
    trace = tmp_path / "step.trace"
    offsets, t = [], 0
    while t < 8000:          # 4 Mbit/s (a 1500-byte opportunity every 3 ms) ...
        t += 3
        offsets.append(t)
    while t < 60000:         # ... then 2.4 Mbit/s
        t += 5
        offsets.append(t)
    trace.write_text("\n".join(map(str, offsets)) + "\n")
    roq, media, out = (rig.free_port() for _ in range(3))
    stats = tmp_path / "send.jsonl"
    probe = rig.start(rig.strata("probe", "-i", f"udp://@127.0.0.1:{out}", "--json",
                                 "--idle", "3", "--duration", "40", "-q"))
    rx = rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq}", "-o",
                              f"udp://127.0.0.1:{out}", "--latency", "500", "--duration", "22"),
                   ready="listening on")
    relay = rig.start(rig.strata("netsim", "--listen", "127.0.0.1:0", "--to",
                                 f"127.0.0.1:{roq}", "--delay", "15ms", "--trace", str(trace),
                                 "--duration", "22"), ready="relaying")
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{media}", "-o",
                              f"roq://127.0.0.1:{relay.port()}", "--insecure", "--latency", "500",
                              "--stats-json", str(stats), "--stats-interval", "250",
                              "--duration", "18"), ready="send:")
    src = rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media}", "--duration", "15",
                               "--size", "640x360", "--bitrate", "3M", "--cbr", "--bframes", "1",
                               "--gop", "60", "-q"))
    src.finish(timeout=60)
    sent = rig.last_json(tx.finish(timeout=30)[1], "send")
    rx.finish(timeout=30)
    report = json.loads(probe.finish(timeout=60)[0])
    layers = sent["layers"]
    timeline = [json.loads(line) for line in stats.read_text().splitlines()]
    # full frame rate while the path carried it; thinned once it did not
    first_drop = next(s["elapsed_s"] for s in timeline if s["layers"]["dropping"])
    assert first_drop > 4.0, timeline[:5]
    assert layers["dropped_disposable"] >= 60 and layers["switches"] >= 1
    video = report["video"]
    assert video["frames"] <= 450 - 60 and video["by_kind"]["b"] < video["by_kind"]["p"] - 60
    # every delivered picture decodes, none predicts from a missing picture, none is corrupt
    assert video["decoded"] == video["frames"] and video["decode_errors"] == 0
    assert video["reference_missing"] == 0 and video["corrupt"] == 0, video
    # and within the 500 ms budget: the thinned stream fits the narrower path
    assert report["latency_ms"]["max"] < 500, report["latency_ms"]
    assert report["latency_ms"]["p95"] < 250, report["latency_ms"]
