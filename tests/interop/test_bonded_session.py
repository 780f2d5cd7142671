"""Bonded session tokens on real sockets: a receiver joins one sender's paths into one
session and keeps a second live sender out until the first falls silent."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def _bonded_sender(rig, roq_port, names, duration):
    media_port = rig.free_port()
    paths = ",".join(f"roq://127.0.0.1:{roq_port}?name={n}" for n in names)
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{media_port}", "-o", paths,
                              "--insecure", "--duration", str(duration)), ready="send:")
    src = rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media_port}", "--duration",
                               str(duration - 1), "--size", "320x180", "--bitrate", "1M", "-q"))
    return tx, src


def test_one_session_per_token_and_a_second_sender_waits_its_turn(rig):
    roq_port, out_port = rig.free_port(), rig.free_port()
    rx = rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq_port}", "-o",
                              f"udp://127.0.0.1:{out_port}", "--duration", "15"),
                   ready="listening on")
    first, first_src = _bonded_sender(rig, roq_port, ("a-lte", "a-wifi"), 6)
    time.sleep(2.0)
    second, second_src = _bonded_sender(rig, roq_port, ("b-lte", "b-wifi"), 11)
    for p in (first_src, second_src):
        p.finish(timeout=60)
    a = rig.last_json(first.finish(timeout=30)[1], "send")
    b = rig.last_json(second.finish(timeout=30)[1], "send")
    stats = rig.last_json(rx.finish(timeout=30)[1], "receive")
    session = stats["session"]
    # While the first sender was live, the second was refused (its paths closed) ...
    assert sum(p["disconnects"] for p in b["paths"]) >= 1, b
    # ... then it took over the output once the first stopped, with both its paths joined.
    assert session["token"] == b["session"] != a["session"], (session, a["session"])
    assert session["switches"] == 1, session
    assert sorted(session["paths"]) == ["b-lte", "b-wifi"], session
    assert stats["forwarded"] > 0 and stats["bad_rtp"] == 0


def test_weak_signal_feed_takes_the_sole_copy_away_from_a_path(rig, tmp_path):
    """--path-metrics over UDP: once 'fast' reports RSRP below the watermark it carries no
    packet alone any more, and the stream still arrives whole."""
    import json
    import socket

    roq_port, out_port, media_port, metrics_port = (rig.free_port() for _ in range(4))
    probe = rig.start(rig.strata("probe", "-i", f"udp://@127.0.0.1:{out_port}", "--json",
                                 "--idle", "3", "--duration", "30", "-q"))
    rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq_port}", "-o",
                         f"udp://127.0.0.1:{out_port}", "--duration", "14"), ready="listening on")
    stats_file = tmp_path / "send.jsonl"
    slower = rig.start(rig.strata("netsim", "--listen", "127.0.0.1:0", "--to",
                                  f"127.0.0.1:{roq_port}", "--delay", "20ms", "--duration", "14"),
                       ready="relaying")
    paths = f"roq://127.0.0.1:{roq_port}?name=fast,roq://127.0.0.1:{slower.port()}?name=other"
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{media_port}", "-o", paths,
                              "--insecure", "--duration", "10", "--scheduler", "minrtt",
                              "--path-metrics", f"udp://@127.0.0.1:{metrics_port}",
                              "--stats-json", str(stats_file), "--stats-interval", "250"),
                   ready="send:")
    src = rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media_port}", "--duration",
                               "8", "--size", "320x180", "--bitrate", "1M", "-q"))
    feeder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    time.sleep(2.0)
    for _ in range(12):                      # a modem daemon reporting twice a second
        feeder.sendto(json.dumps({"path": "fast", "rsrp": -124, "sinr": -2}).encode(),
                      ("127.0.0.1", metrics_port))
        time.sleep(0.5)
    feeder.close()
    src.finish(timeout=60)
    final = rig.last_json(tx.finish(timeout=30)[1], "send")
    lines = [json.loads(x) for x in stats_file.read_text().splitlines()]
    weak = [x for x in lines if x["paths"][0]["weak_signal"]]
    assert weak, lines[-1]
    before = weak[0]["paths"][0]["sole_copies"]
    assert before > 0                                   # minrtt used it alone while healthy
    fast = final["paths"][0]
    assert fast["rsrp"] == -124 and fast["sent"] > weak[0]["paths"][0]["sent"]  # still used...
    assert fast["sole_copies"] == before, final         # ...but never alone
    assert final["decisions"]["watermark_guard"] > 0
    # A joined path's receiver reports arrivals every 25 ms, not 100 (losses are found from
    # these reports alone): 8 s of 30 frames a second bring ~240 reports, not ≤ 80.
    assert fast["roq"]["ccfb_reports"] >= 150, fast["roq"]
    report = json.loads(probe.finish(timeout=60)[0])
    assert report["video"]["missing_frames"] == 0, report["video"]


def test_a_path_that_cannot_bind_is_left_out_with_a_clear_message(rig):
    import json
    import subprocess
    import sys

    roq_port, out_port, media_port = rig.free_port(), rig.free_port(), rig.free_port()
    # Every path unbindable: a one-line usage error, exit 2.
    bad = subprocess.run([sys.executable, "-m", "strata_roq", "send", "-i",
                          f"udp://@127.0.0.1:{media_port}", "-o",
                          f"roq://127.0.0.1:{roq_port}?bind=198.51.100.7,"
                          f"roq://127.0.0.1:{roq_port}?bind=203.0.113.9", "--insecure",
                          "--duration", "2"], capture_output=True, text=True, timeout=30)
    lines = [x for x in bad.stderr.splitlines() if x.strip()]
    assert bad.returncode == 2 and len(lines) == 1, bad.stderr
    assert "cannot bind a path to " in lines[0] and "Traceback" not in bad.stderr
    # One bad path among good ones: warned about, and the stream flows on the rest.
    probe = rig.start(rig.strata("probe", "-i", f"udp://@127.0.0.1:{out_port}", "--json",
                                 "--idle", "3", "--duration", "30", "-q"))
    rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq_port}", "-o",
                         f"udp://127.0.0.1:{out_port}", "--duration", "10"), ready="listening on")
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{media_port}", "-o",
                              f"roq://127.0.0.1:{roq_port}?name=good&bind=127.0.0.1,"
                              f"roq://127.0.0.1:{roq_port}?name=bad&bind=198.51.100.7",
                              "--insecure", "--duration", "6"), ready="left out")
    assert "cannot bind a path to 198.51.100.7" in tx.first_line
    time.sleep(1.0)                        # the good path connects, the input socket opens
    src = rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media_port}", "--duration",
                               "4", "--size", "320x180", "--bitrate", "1M", "-q"))
    src.finish(timeout=60)
    _, err = tx.finish(timeout=30)
    assert tx.p.returncode == 0 and "Traceback" not in err, err[-2000:]
    stats = rig.last_json(err, "send")
    bad_path = next(p for p in stats["paths"] if p["name"] == "bad")
    assert bad_path["left_out"] and bad_path["sent"] == 0 and not bad_path["alive"], bad_path
    report = json.loads(probe.finish(timeout=60)[0])
    assert report["video"]["frames"] == 120 and report["video"]["missing_frames"] == 0, \
        (json.dumps(report["video"]), json.dumps(stats))
