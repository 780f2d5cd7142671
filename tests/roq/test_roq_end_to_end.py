"""testsrc → send → RoQ (aioquic, loopback) → receive → UDP → probe, in every mapping mode."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading

import pytest


def _free_port(kind=socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(*args):
    return subprocess.Popen([sys.executable, "-m", "strata_roq", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _drain(proc, lines: list[str]) -> threading.Thread:
    """Keep reading a child's stderr so it never blocks on a full pipe."""
    thread = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("mode", ["frame", "stream", "datagram", "hybrid"])
def test_all_frames_arrive_in_time(mode, tmp_path):
    roq_port, in_port = _free_port(), _free_port()
    procs = []
    try:
        probe = _start("probe", "-i", "udp://@127.0.0.1:0", "--json", "--idle", "2",
                       "--duration", "20")
        procs.append(probe)
        line = probe.stderr.readline()
        out_port = int(line.rsplit(":", 1)[1])
        receiver = _start("receive", "-i", f"roq://@127.0.0.1:{roq_port}", "-o",
                          f"udp://127.0.0.1:{out_port}", "--duration", "12", "--latency", "500")
        procs.append(receiver)
        assert "self-signed" in receiver.stderr.readline()  # no cert given: warned, generated
        assert "listening" in receiver.stderr.readline()
        keylog = tmp_path / "keys.log"
        sender = _start("send", "-i", f"udp://@127.0.0.1:{in_port}", "-o",
                        f"roq://127.0.0.1:{roq_port}?mode={mode}", "--insecure", "--keylog",
                        str(keylog), "--duration", "9", "--latency", "500")
        procs.append(sender)
        assert "send:" in sender.stderr.readline()
        send_lines: list[str] = []
        drains = [_drain(receiver, []), _drain(sender, send_lines), _drain(probe, [])]
        src = subprocess.run([sys.executable, "-m", "strata_roq", "testsrc", "-o",
                              f"udp://127.0.0.1:{in_port}", "--duration", "4", "--size",
                              "640x360", "--bitrate", "2M", "--gop", "30", "-q"],
                             capture_output=True, text=True, timeout=60)
        assert src.returncode == 0, src.stderr
        report = json.loads(probe.stdout.read())
        for proc, drain in zip(procs, drains):
            proc.wait(timeout=30)
            drain.join(timeout=5)
    finally:
        for p in procs:
            p.kill()
    video = report["video"]
    assert video["frames"] == 120 and video["missing_frames"] == 0, report
    assert video["key_frame_indices"] == [0, 30, 60, 90]
    assert report["ts"]["cc_errors"] == 0
    assert report["latency_ms"]["p99"] < 50.0, report["latency_ms"]
    stats = json.loads(send_lines[-1].split("send: ", 1)[1])
    expected_streams = {"frame": 100, "stream": 1, "datagram": 0, "hybrid": 10}
    assert stats["streams_opened"] >= expected_streams[mode]
    if mode == "stream":
        assert stats["streams_opened"] == 1
    if mode in ("datagram", "hybrid"):
        assert stats["datagrams"] > 100 and stats["dropped_too_big"] == 0
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in keylog.read_text()
    # RTCP over RoQ (§5.4): Sender Reports out, RFC 8888 CCFB back, QUIC's own RTT state
    # (every quarter round trip, at most every 50 ms: a 4-s stream on loopback, ~80)
    assert stats["rtcp_sent"] >= 3 and stats["ccfb_reports"] > 60
    assert stats["ccfb_received"] >= 0.99 * stats["packets"]
    assert stats["quic"]["srtt_ms"] is not None and stats["quic"]["min_rtt_ms"] < 50
