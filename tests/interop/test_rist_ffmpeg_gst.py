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


# ffmpeg's rist:// sometimes closes before its last datagrams leave: in 3 of 32 local runs
# the stream ended 1-4 datagrams (up to 4,136 bytes) short, with no receive-buffer or socket
# error on the machine and one datagram fewer sent, so they never reached the wire.
PEER_TAIL_CUT = 10 * 1316


def test_ffmpeg_rist_to_strata_receive_decodes_cleanly(rig, tmp_path):
    """What ffmpeg muxed arrives byte for byte. ffmpeg writes the same mux to a file through
    its tee muxer; 7 s are sent and the first 6 s (180 pictures) must decode cleanly, so the
    peer's close cutting its own last datagrams cannot reach the pictures checked."""
    rig.need("ffmpeg")
    rist_port, out_port = rig.free_port(even=True), rig.free_port()
    collector = rig.Collector(out_port)
    rx = rig.start(rig.strata("receive", "-i", f"rist://@127.0.0.1:{rist_port}?buffer=500",
                              "-o", f"udp://127.0.0.1:{out_port}", "--duration", "12"),
                   ready="listening on")
    sent = tmp_path / "sent.ts"
    src = [*FFMPEG_SRC[:FFMPEG_SRC.index("-t")], "-t", "7", *FFMPEG_SRC[FFMPEG_SRC.index("-t") + 2:]]
    enc = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-re", *src, "-map", "0", "-f", "tee",
                          f"[f=mpegts]rist://127.0.0.1:{rist_port}|[f=mpegts]{sent}"],
                         capture_output=True, text=True, timeout=60)
    # ffmpeg 5.1 reports a harmless "Generic error in an external library" on closing rist://
    assert "rror" not in enc.stderr.replace("Generic error in an external library", "") \
        .replace("Error closing file", ""), enc.stderr
    got, want = b"".join(collector.wait()), sent.read_bytes()
    stats = rig.last_json(rx.finish()[1], "receive")
    counts = {k: stats.get(k) for k in ("received", "delivered", "missing", "lost", "dropped_late")}
    assert got == want[:len(got)], counts                 # nothing lost, changed or reordered
    assert len(got) >= len(want) - PEER_TAIL_CUT, (len(got), len(want), counts)
    ts = tmp_path / "received.ts"
    ts.write_bytes(got)
    dec = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(ts), "-frames:v", "180",
                          "-f", "framemd5", "-"], capture_output=True, text=True, timeout=60)
    assert dec.stderr.strip() == "", dec.stderr           # no decode errors at all
    assert _frames(dec.stdout) == 180
    assert stats["lost"] == 0 and stats["missing"] == 0 and stats["peers"][0]["cname"]


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
