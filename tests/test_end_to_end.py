"""testsrc → probe as real processes over loopback UDP, as a user would run them."""

from __future__ import annotations

import json
import subprocess
import sys


def _start_probe(*extra, scheme="udp"):
    probe = subprocess.Popen(
        [sys.executable, "-m", "strata_roq", "probe", "-i", f"{scheme}://@127.0.0.1:0", "--json",
         "--idle", "2", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = probe.stderr.readline()
    assert "listening on" in line, line
    return probe, int(line.rsplit(":", 1)[1])


def test_testsrc_to_probe_over_loopback():
    probe, port = _start_probe("--duration", "15")
    try:
        sender = subprocess.run(
            [sys.executable, "-m", "strata_roq", "testsrc", "-o", f"udp://127.0.0.1:{port}",
             "--duration", "6", "--size", "640x360", "--bitrate", "2M", "--gop", "30", "-q"],
            capture_output=True, text=True, timeout=60)
        assert sender.returncode == 0, sender.stderr
        out, err = probe.communicate(timeout=30)
    finally:
        probe.kill()
    report = json.loads(out)
    video = report["video"]
    sent = 6 * 30
    assert video["frames"] >= 0.99 * sent, report
    assert video["decoded"] >= 0.99 * sent
    assert video["key_frame_indices"] == list(range(0, sent, 30))
    assert video["missing_frames"] == 0
    assert report["latency_ms"]["p99"] < 100.0, report["latency_ms"]
    assert report["audio"]["frames"] > 0


def test_rtp_output_to_probe():
    probe, port = _start_probe("--duration", "10", scheme="rtp")
    try:
        sender = subprocess.run(
            [sys.executable, "-m", "strata_roq", "testsrc", "-o", f"rtp://127.0.0.1:{port}",
             "--duration", "3", "--size", "320x240", "--bitrate", "1M", "-q"],
            capture_output=True, text=True, timeout=60)
        assert sender.returncode == 0, sender.stderr
        out, _ = probe.communicate(timeout=30)
    finally:
        probe.kill()
    report = json.loads(out)
    assert report["rtp"]["lost"] == 0 and report["rtp"]["packets"] > 100
    assert report["video"]["frames"] >= 0.99 * 90


def test_demo_passes():
    result = subprocess.run([sys.executable, "-m", "strata_roq", "demo", "--duration", "4",
                             "--size", "640x360", "--bitrate", "2M"],
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo: PASS" in result.stdout
    assert "latency" in result.stderr  # live progress lines
