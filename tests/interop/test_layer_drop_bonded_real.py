"""Layer thinning on the bonded sender: testsrc (3 Mbit/s CBR H.264, one non-reference
B-frame between references) → send over two paths (2 Mbit/s at 15 ms; 2 Mbit/s at 20 ms that
falls to 0.5 Mbit/s at 8 s — together 4 → 2.5 Mbit/s) → receive → probe. No encoder to
steer: send drops the disposable pictures once the paths' safe rate together (less the
bonding overhead) falls under the media rate, and the thinner stream fits what is left."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def _step_trace(path, before_ms: int, after_ms: int, at_ms: int = 8000) -> None:
    offsets, t = [], 0
    while t < at_ms:            # one 1500-byte opportunity every ``before_ms`` ...
        t += before_ms
        offsets.append(t)
    while t < 60000:            # ... then every ``after_ms``
        t += after_ms
        offsets.append(t)
    path.write_text("\n".join(map(str, offsets)) + "\n")


def _run(rig, tmp_path, layer_drop: str):
    trace = tmp_path / f"step-{layer_drop}.trace"
    _step_trace(trace, 6, 24)                        # 2 Mbit/s, then 0.5 Mbit/s
    roq, media, out = (rig.free_port() for _ in range(3))
    stats = tmp_path / f"send-{layer_drop}.jsonl"
    probe = rig.start(rig.strata("probe", "-i", f"udp://@127.0.0.1:{out}", "--json",
                                 "--idle", "3", "--duration", "40", "-q"))
    rx = rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq}", "-o",
                              f"udp://127.0.0.1:{out}", "--latency", "500", "--duration", "22"),
                   ready="listening on")
    relays = [rig.start(rig.strata("netsim", "--listen", "127.0.0.1:0", "--to",
                                   f"127.0.0.1:{roq}", "--delay", delay, *shape,
                                   "--duration", "22"), ready="relaying")
              for delay, shape in (("15ms", ("--rate", "2M")), ("20ms", ("--trace", str(trace))))]
    paths = ",".join(f"roq://127.0.0.1:{r.port()}?name={n}" for r, n in zip(relays, "ab"))
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{media}", "-o", paths,
                              "--insecure", "--latency", "500", "--layer-drop", layer_drop,
                              "--stats-json", str(stats), "--stats-interval", "250",
                              "--duration", "18"), ready="send:")
    src = rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media}", "--duration", "15",
                               "--size", "640x360", "--bitrate", "3M", "--cbr", "--bframes", "1",
                               "--gop", "60", "-q"))
    src.finish(timeout=60)
    sent = rig.last_json(tx.finish(timeout=30)[1], "send")
    rx.finish(timeout=30)
    report = json.loads(probe.finish(timeout=60)[0])
    timeline = [json.loads(line) for line in stats.read_text().splitlines()]
    return sent, report, timeline


def test_bonded_paths_thin_the_stream_when_together_they_fall_short(rig, tmp_path):
    sent, report, timeline = _run(rig, tmp_path, "auto")
    layers = sent["layers"]
    first_drop = next(s["elapsed_s"] for s in timeline if s["layers"]["dropping"])
    assert first_drop > 4.0, timeline[:5]            # full frame rate while the paths carry it
    assert layers["dropped_disposable"] >= 60 and layers["switches"] >= 1, layers
    video = report["video"]
    assert video["frames"] <= 450 - 60 and video["by_kind"]["b"] < video["by_kind"]["p"] - 60
    assert video["decoded"] == video["frames"] and video["decode_errors"] == 0
    thinned_broken = video["reference_missing"] + video["corrupt"]
    # the same run without thinning: the paths drop and delay reference pictures instead
    _, plain, _ = _run(rig, tmp_path, "off")
    plain_broken = plain["video"]["reference_missing"] + plain["video"]["corrupt"]
    assert thinned_broken * 3 < plain_broken, (video, plain["video"])
    assert report["latency_ms"]["p95"] < 400, report["latency_ms"]
