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


def test_direct_demo_passes():
    result = subprocess.run([sys.executable, "-m", "strata_roq", "demo", "--direct",
                             "--duration", "4", "--size", "640x360", "--bitrate", "2M"],
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo: PASS" in result.stdout
    assert "latency" in result.stderr  # live progress lines


def test_bonded_demo_passes_over_three_emulated_paths():
    """The README's first command: testsrc -> send over lte/leo/wifi relays -> receive ->
    probe, with the live view; the Wi-Fi outage at 8 s is inside the run."""
    result = subprocess.run([sys.executable, "-m", "strata_roq", "demo", "--duration", "12",
                             "--size", "640x360", "--bitrate", "2M", "--json"],
                            capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "demo: PASS" in result.stdout
    assert "on time (<= 500 ms)" in result.stderr and "wifi" in result.stderr   # live view
    body = result.stdout[:result.stdout.index("\ndemo: ")]
    data = json.loads(body)
    paths = {p["name"]: p for p in data["send"]["paths"]}
    assert set(paths) == {"lte", "leo", "wifi"}
    assert all(p["sent"] > 0 for p in paths.values())
    assert data["paths"]["wifi"]["outages"] >= 1, data["paths"]["wifi"]   # inside the run
    assert data["received"]["within_ms"]["500"] >= 0.99 * data["sent"]["frames"]


def test_demo_stops_cleanly_on_ctrl_c():
    import os
    import signal
    import time
    import uuid

    mark = uuid.uuid4().hex
    env = {**os.environ, "STRATA_TEST_MARK": mark}
    proc = subprocess.Popen([sys.executable, "-m", "strata_roq", "demo", "--duration", "120",
                             "--size", "320x180", "--bitrate", "1M"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err[-3000:]
    assert "demo: sent" in out and ("demo: PASS" in out or "demo: FAIL" in out), out
    time.sleep(0.5)
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if mark.encode() in f.read():
                    left.append(pid)
        except OSError:
            continue
    assert not left, f"processes left behind: {left}"
