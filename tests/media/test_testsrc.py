"""The test source makes real, standard streams: ffprobe and PyAV agree."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from strata_roq.media.testsrc import DATAGRAM_SIZE, TestSource


def _ffprobe(path):
    ffprobe = shutil.which("ffprobe")
    assert ffprobe, "ffprobe (ffmpeg) is not installed"
    out = subprocess.run([ffprobe, "-v", "error", "-show_streams", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


@pytest.mark.parametrize("codec, audio, ff_video, ff_audio", [
    ("h264", "aac", "h264", "aac"), ("h264", "opus", "h264", "opus"), ("hevc", None, "hevc", None)])
def test_streams_are_standard(tmp_path, codec, audio, ff_video, ff_audio):
    source = TestSource(width=320, height=240, fps=25, bitrate=500_000, gop=25, codec=codec,
                        audio=audio)
    per_frame = [source.encode_frame(i * 40_000_000) for i in range(50)]
    tail = source.close()
    path = tmp_path / "out.ts"
    path.write_bytes(b"".join(d for frame in per_frame for d in frame) + b"".join(tail))
    streams = _ffprobe(path)
    assert streams["video"]["codec_name"] == ff_video
    assert (streams["video"]["width"], streams["video"]["height"]) == (320, 240)
    assert streams.get("audio", {}).get("codec_name") == ff_audio
    assert source.key_indices == [0, 25]
    # whole datagrams of 7 packets, and a shorter one only at a frame's end
    for frame in per_frame:
        assert all(len(d) == DATAGRAM_SIZE for d in frame[:-1])
        assert all(len(d) % 188 == 0 for d in frame)
    assert all(frame for frame in per_frame), "every picture leaves the muxer at once"


def test_av1_is_carried_as_the_aom_mapping_specifies():
    """'AV01' registration and AV1 video descriptor in the PMT, PES stream_id 0xBD with its
    length, OBUs in start-code format; the probe (libdav1d) decodes every frame."""
    from strata_roq.media.probe import MediaProbe
    from strata_roq.media.testsrc import PMT_PID, VIDEO_PID
    from strata_roq.media.ts import TsDemuxer

    source = TestSource(width=320, height=240, fps=25, bitrate=500_000, gop=25, codec="av1",
                        audio="opus")
    per_frame = [source.encode_frame(1_700_000_000_000_000_000 + i * 40_000_000)
                 for i in range(50)]
    datagrams = [d for frame in per_frame for d in frame] + source.close()
    assert all(frame for frame in per_frame), "every picture leaves the muxer at once"
    packets = [d[i:i + 188] for d in datagrams for i in range(0, len(d), 188)]
    pmts = [p for p in packets if ((p[1] & 0x1F) << 8 | p[2]) == PMT_PID]
    assert pmts and all(b"\x05\x04AV01\x80\x04\x81" in p for p in pmts)
    demux = TsDemuxer()
    units = [u for d in datagrams for u in demux.feed(d, 0.0)] + demux.flush()
    assert demux.streams[VIDEO_PID].codec == "av1" and demux.counters.psi_errors == 0
    video = [u for u in units if u.codec == "av1"]
    assert len(video) == 50 and {u.stream_id for u in video} == {0xBD}
    assert all(bytes(u.data[:5]) == b"\x00\x00\x01\x12\x00" for u in video)  # a TD first
    starts = [p for p in packets if ((p[1] & 0x1F) << 8 | p[2]) == VIDEO_PID and p[1] & 0x40]
    assert all(p[4 + (1 + p[4] if p[3] & 0x20 else 0) + 4:][:2] != b"\0\0" for p in starts)
    assert [i for i, u in enumerate(video) if u.random_access] == source.key_indices == [0, 25]
    probe = MediaProbe()
    for d in datagrams:
        probe.feed(d, 1_700_000_002.0)
    probe.finish()
    report = probe.report()["video"]
    assert report["codec"] == "av1" and report["decoded"] == 50 and report["stamped"] == 50
    assert report["decode_errors"] == 0 and report["missing_frames"] == 0
    assert report["by_kind"] == {"idr": 2, "p": 48} and report["key_frames"] == 2


def test_bad_options_are_rejected():
    with pytest.raises(ValueError):
        TestSource(codec="vp9")
    with pytest.raises(ValueError):
        TestSource(audio="mp3")


def test_cbr_holds_the_target_rate_where_plain_abr_undershoots():
    from strata_roq.media.testsrc import TestSource

    def rate(**kw):
        src = TestSource(width=640, height=360, fps=30, bitrate=4_000_000, gop=30, audio=None, **kw)
        total = sum(len(d) for i in range(60) for d in src.encode_frame(int(i * 1e9 / 30)))
        src.close()
        return total * 8 / 2.0

    assert rate() < 0.6 * 4e6                      # a synthetic picture is cheap
    assert 0.9 * 4e6 < rate(cbr=True) < 1.15 * 4e6  # CBR pads to the target, like an encoder


def test_an_adaptive_source_follows_its_rate_target_within_a_few_pictures():
    from strata_roq.media.probe import MediaProbe

    src = TestSource(width=640, height=360, fps=30, bitrate=6_000_000, gop=30, audio=None,
                     adaptive=True)
    probe = MediaProbe("udp", decode=True)
    sizes = []
    for i in range(210):
        if i == 60:
            assert src.set_bitrate(2_000_000) == 2_000_000
        if i == 150:
            assert src.set_bitrate(50e6) == 6_000_000        # the configured rate is the ceiling
        datagrams = src.encode_frame(int(i * 1e9 / 30))
        sizes.append(sum(len(d) for d in datagrams))
        for d in datagrams:
            probe.feed(d, i / 30)
    probe.finish()

    def mbps(a, b):
        return sum(sizes[a:b]) * 8 / ((b - a) / 30) / 1e6

    assert 5.7 < mbps(30, 60) < 6.6                     # TS overhead on top of the target
    assert 1.8 < mbps(63, 150) < 2.3 and max(sizes[63:150]) < 2e6 / 8 / 30 * 4
    assert 5.7 < mbps(153, 210) < 6.6
    assert src.retargets == 2
    report = probe.report()
    assert report["video"]["frames"] == 210 and report["video"]["decoded"] == 210   # filler is harmless


def test_set_bitrate_needs_an_adaptive_source():
    with pytest.raises(ValueError):
        TestSource(width=160, height=120, audio=None).set_bitrate(1e6)


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_a_requested_key_frame_is_an_idr_at_once(codec):
    from strata_roq.media.frames import Framer
    from strata_roq.media.nal import FrameKind

    src = TestSource(width=320, height=180, gop=300, codec=codec, audio=None)
    framer = Framer(latency=1.0)
    kinds = []
    for i in range(20):
        if i == 10:
            src.request_key_frame()
        for d in src.encode_frame(int(i / 30 * 1e9)):
            framer.push(d, i / 30)
        kinds += [f.kind for f in framer.pop_completed() if f.kind is not FrameKind.PSI]
    # H.264: an IDR; HEVC (x265, open GOP): a CRA — either way decoding restarts there
    keys = [i for i, k in enumerate(kinds) if k.is_key]
    assert keys == [0, 10] and src.keys_forced == 1, kinds
    assert kinds[10] is FrameKind.IDR or codec == "hevc"
