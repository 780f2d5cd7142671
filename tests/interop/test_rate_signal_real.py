"""The encoder rate loop on real sockets: testsrc (ceiling 6 Mbit/s) → send → a 2.5 Mbit/s
bottleneck (15 ms one way) → receive → probe. send's estimate (CCFB send/arrival times)
reaches testsrc as a rate datagram; the encoder re-targets live, so the stream fits the
path: no standing queue, every picture decodable. The same signal is served over HTTP
(``--api``): JSON now and Server-Sent Events on every change."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def test_the_encoder_follows_the_rate_signal_down_to_the_bottleneck(rig, tmp_path):
    roq, media, out, rate = (rig.free_port() for _ in range(4))
    stats = tmp_path / "send.jsonl"
    probe = rig.start(rig.strata("probe", "-i", f"udp://@127.0.0.1:{out}", "--json",
                                 "--per-frame", "--idle", "3", "--duration", "40", "-q"))
    rx = rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq}", "-o",
                              f"udp://127.0.0.1:{out}", "--latency", "1000", "--duration", "20"),
                   ready="listening on")
    relay = rig.start(rig.strata("netsim", "--listen", "127.0.0.1:0", "--to",
                                 f"127.0.0.1:{roq}", "--delay", "15ms", "--rate", "2.5M",
                                 "--duration", "20"), ready="relaying")
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{media}", "-o",
                              f"roq://127.0.0.1:{relay.port()}", "--insecure", "--latency",
                              "1000", "--rate-to", f"udp://127.0.0.1:{rate}", "--rate-max", "6M",
                              "--rate-start", "1M", "--api", "127.0.0.1:0",
                              "--stats-json", str(stats), "--stats-interval", "100",
                              "--duration", "16"), ready="send:")
    api = int(re.search(r"rate API on http://127\.0\.0\.1:(\d+)/", tx.first_line).group(1))
    src = rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media}", "--duration", "12",
                               "--size", "640x360", "--bitrate", "6M", "--gop", "30", "-q",
                               "--json", "--rate-from", f"udp://@127.0.0.1:{rate}"))
    # meanwhile the same signal over HTTP: now, and as events while it climbs
    time.sleep(2.0)
    with urllib.request.urlopen(f"http://127.0.0.1:{api}/api/rate", timeout=5) as r:
        now = json.loads(r.read())
    assert 200_000 <= now["rate_bps"] <= 6_000_000 and now["safe_bps"] > 0, now
    events = []
    with urllib.request.urlopen(f"http://127.0.0.1:{api}/api/rate/events", timeout=5) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        while len(events) < 3:
            line = r.readline().decode().strip()
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert len({e["rate_bps"] for e in events}) >= 2, events   # it moved: one event per change
    encoder = json.loads(src.finish(timeout=60)[0])
    sent = rig.last_json(tx.finish(timeout=30)[1], "send")
    rx.finish(timeout=30)
    report = json.loads(probe.finish(timeout=60)[0])
    signal = [json.loads(line) for line in stats.read_text().splitlines()]
    # the estimate climbed from its 1 Mbit/s start towards what the path carries, never
    # beyond it for long: the encoder fills the path without a standing queue
    rates = [s["rate_signal_bps"] for s in signal]
    assert rates[0] == 1_000_000
    assert max(rates[len(rates) // 2:]) * 1.1 > 0.7 * 2.5e6, rates
    assert sorted(rates)[int(0.9 * len(rates))] * 1.1 < 1.2 * 2.5e6, rates
    assert sent["rate_told"] > 5
    # the encoder followed: re-targeted from its 6 Mbit/s at once, none of its messages refused
    assert encoder["rate_errors"] == 0 and encoder["bitrate_targets"]
    assert encoder["bitrate_targets"][0][0] < 15 and encoder["bitrate_targets"][0][1] < 1.5e6
    # so the stream fits: every picture decodable, no standing queue in the second half
    video = report["video"]
    assert video["frames"] == 360 and video["decoded"] == 360, (video["missing_indices"], video["first_index"], video["last_index"], video["decoded"])
    late_half = [ms for i, ms in report["latency_by_frame"] if i >= 180]
    assert sorted(late_half)[int(0.95 * len(late_half))] < 150, sorted(late_half)[-20:]
