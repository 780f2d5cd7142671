"""Strata's RIST against ffmpeg's rist:// (librist inside) and GStreamer's ristsink bonding."""

from __future__ import annotations

import subprocess
import time

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]

FFMPEG_SRC = ["-f", "lavfi", "-i", "testsrc=size=640x360:rate=30", "-t", "6", "-c:v", "libx264",
              "-preset", "veryfast", "-b:v", "2M", "-g", "30", "-pix_fmt", "yuv420p"]


def _frames(framemd5: str) -> int:
    return sum(1 for line in framemd5.splitlines() if line and not line.startswith("#"))


def test_ffmpeg_rist_to_strata_receive_decodes_cleanly(rig, tmp_path):
    rig.need("ffmpeg")
    rist_port, out_port = rig.free_port(even=True), rig.free_port()
    collector = rig.Collector(out_port)
    rx = rig.start(rig.strata("receive", "-i", f"rist://@127.0.0.1:{rist_port}?buffer=500",
                              "-o", f"udp://127.0.0.1:{out_port}", "--duration", "10"),
                   ready="listening on")
    enc = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-re", *FFMPEG_SRC, "-f", "mpegts",
                          f"rist://127.0.0.1:{rist_port}"], capture_output=True, text=True,
                         timeout=60)
    # ffmpeg 5.1 reports a harmless "Generic error in an external library" on closing rist://
    assert "rror" not in enc.stderr.replace("Generic error in an external library", "") \
        .replace("Error closing file", ""), enc.stderr
    ts = tmp_path / "received.ts"
    ts.write_bytes(b"".join(collector.wait()))
    dec = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(ts), "-f", "framemd5", "-"],
                         capture_output=True, text=True, timeout=60)
    assert dec.stderr.strip() == "", dec.stderr           # no decode errors at all
    stats = rig.last_json(rx.finish()[1], "receive")
    # a failure says whether the stream's tail reached us at all (a CI run on 7bab09b decoded
    # 179 frames, no error; 23 local runs, some beside a CPU hog, all gave 180)
    assert _frames(dec.stdout) == 180, {k: stats.get(k) for k in (
        "received", "delivered", "missing", "lost", "dropped_late", "recovered_total")}
    assert stats["lost"] == 0 and stats["peers"][0]["cname"]


def test_strata_send_to_ffmpeg_rist_decodes_cleanly(rig):
    rig.need("ffmpeg")
    rist_port, in_port = rig.free_port(even=True), rig.free_port()
    dec = rig.start(["ffmpeg", "-nostdin", "-v", "error", "-probesize", "200000", "-i",
                     f"rist://@127.0.0.1:{rist_port}", "-t", "5", "-f", "framemd5", "-"])
    time.sleep(0.5)
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{in_port}",
                              "-o", f"rist://127.0.0.1:{rist_port}", "--duration", "10"),
                   ready="send:")
    time.sleep(1.0)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-re", *FFMPEG_SRC, "-f", "mpegts",
                    f"udp://127.0.0.1:{in_port}?pkt_size=1316"], check=True, timeout=60)
    out, err = dec.finish(timeout=20)   # -t 5: ffmpeg stops on its own after 5 s of video
    assert "rror" not in err.replace("Generic error in an external library", "") \
        .replace("Error closing file", ""), err
    assert _frames(out) == 150, out[-500:]
    stats = rig.last_json(tx.finish()[1], "send")
    assert stats["peers"][0]["cname"]          # ffmpeg (librist) answered our handshake


@pytest.mark.parametrize("method", ["broadcast", "round-robin"])
def test_gstreamer_ristsink_bonding_into_strata(rig, method):
    rig.need("gst-launch-1.0")
    a, b = rig.free_port(even=True), rig.free_port(even=True)
    in_port, out_port = rig.free_port(), rig.free_port()
    collector = rig.Collector(out_port)
    rx = rig.start(rig.strata("receive", "-i", f"rist://@127.0.0.1:{a}?profile=simple,"
                              f"rist://@127.0.0.1:{b}?profile=simple",
                              "-o", f"udp://127.0.0.1:{out_port}", "--duration", "8"),
                   ready="listening on")
    gst = rig.start(["gst-launch-1.0", "-q", "udpsrc", f"port={in_port}",
                     "caps=video/mpegts,systemstream=true,packetsize=188", "!", "rtpmp2tpay", "!",
                     "ristsink", f"bonding-addresses=127.0.0.1:{a},127.0.0.1:{b}",
                     f"bonding-method={method}"])
    time.sleep(1.5)
    rig.blast(in_port, 2000, 0.001)
    got = collector.wait()
    gst.stop()
    stats = rig.last_json(rx.finish()[1], "receive")
    assert got == [rig.payload(i) for i in range(2000)], (len(got), stats)
    assert len(stats["peers"]) == 2 and all(p["alive"] for p in stats["peers"]) or stats
    if method == "broadcast":
        assert stats["duplicates"] == 2000               # every packet came twice, once out
    else:
        assert stats["duplicates"] == 0 and stats["lost"] == 0
