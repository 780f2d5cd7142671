"""TsThinner: pictures leave whole, what is left decodes (PyAV, corrupt frames counted),
the TS stays continuous."""

from __future__ import annotations

import av
import pytest

from strata_roq.media.nal import NalScanner
from strata_roq.media.refchain import ReferenceChain
from strata_roq.media.testsrc import TestSource
from strata_roq.media.thinning import TsThinner
from strata_roq.media.ts import TsDemuxer, parse_ts_header

FPS = 30


@pytest.fixture(scope="module")
def stream() -> list[list[bytes]]:
    """90 pictures (GOP 30, one non-reference B-frame between references), datagrams per
    picture as the encoder hands them out."""
    src = TestSource(width=320, height=180, fps=FPS, bitrate=1_000_000, gop=30, bframes=1)
    out = [src.encode_frame(int(i / FPS * 1e9)) for i in range(90)]
    out[-1] = out[-1] + src.close()
    return out


def decode(datagrams: list[bytes]) -> dict:
    """Demux and decode; counts pictures, decoded frames, corrupt frames, pictures whose
    references are missing (frame_num gaps), CC errors."""
    demux = TsDemuxer()
    units = []
    for d in datagrams:
        units += demux.feed(d, 0.0)
    units += demux.flush()
    video = [u for u in units if u.codec == "h264"]
    codec = av.CodecContext.create("h264", "r")
    frames = []
    errors = 0
    scanner, chain = NalScanner("h264"), ReferenceChain()
    for u in video:
        chain.check(scanner.scan(u.data))
        packet = av.Packet(u.data)
        packet.pts, packet.dts = u.pts, u.dts
        try:
            frames += codec.decode(packet)
        except av.error.FFmpegError:
            errors += 1
    frames += codec.decode(None)
    return {"pictures": len(video), "decoded": len(frames), "errors": errors,
            "corrupt": sum(f.is_corrupt for f in frames), "cc_errors": demux.counters.cc_errors,
            "reference_missing": chain.damaged, "checked": chain.checked,
            "audio": sum(1 for u in units if u.codec == "aac")}


def test_untouched_stream_passes_byte_for_byte(stream):
    thinner = TsThinner()
    flat = [d for picture in stream for d in picture]
    assert [thinner.filter(d) for d in flat] == flat
    assert thinner.stats.pictures == 90 and thinner.stats.dropped_disposable == 0
    full = decode(flat)
    assert full["pictures"] == 90 and full["decoded"] == 90 and full["corrupt"] == 0
    assert full["checked"] == 90 and full["reference_missing"] == 0


def test_disposable_pictures_leave_and_the_rest_decodes(stream):
    thinner = TsThinner()
    thinner.drop_disposable = True
    out = [thinner.filter(d) for picture in stream for d in picture]
    got = decode([d for d in out if d])
    dropped = thinner.stats.dropped_disposable
    assert 40 <= dropped <= 45                  # every other picture is a disposable B
    assert got["pictures"] == 90 - dropped and got["decoded"] == 90 - dropped
    assert got["errors"] == 0 and got["corrupt"] == 0 and got["cc_errors"] == 0
    assert got["reference_missing"] == 0
    full = decode([d for picture in stream for d in picture])
    assert got["audio"] == full["audio"] > 0    # audio in the same datagrams untouched
    assert sum(map(len, out)) < 0.9 * sum(len(d) for p in stream for d in p)


def test_pcr_survives_in_place_of_removed_packets(stream):
    thinner = TsThinner()
    thinner.drop_disposable = True
    out = b"".join(thinner.filter(d) for picture in stream for d in picture)
    pcrs = [h.pcr for h in (parse_ts_header(out, b) for b in range(0, len(out), 188))
            if h.pcr is not None]
    assert thinner.stats.pcr_kept > 0
    gaps = [(b - a) / 27e6 for a, b in zip(pcrs, pcrs[1:])]
    assert max(gaps) < 0.1                      # ISO/IEC 13818-1: a PCR at least every 100 ms


def test_a_lost_reference_drops_the_gop_tail_until_the_key_frame(stream):
    thinner = TsThinner()
    kept = []
    for i, picture in enumerate(stream):
        if i == 40:                              # a reference picture is lost on the way...
            naive = list(kept)
            thinner.reference_lost()
            continue
        kept += [thinner.filter(d) for d in picture]
    kept = [d for d in kept if d]
    got = decode(kept)
    # ...the pictures after it up to the key frame at 60 depend on it: dropped (about 19;
    # the encoder hands pictures out in coding order, datagrams straddle pictures)
    stats = thinner.stats
    assert 17 <= stats.dropped_gop_tail <= 21
    assert got["pictures"] == stats.pictures - stats.dropped_gop_tail >= 65
    assert got["decoded"] == got["pictures"] and got["corrupt"] == 0 and got["errors"] == 0
    assert got["reference_missing"] == 0
    # without the GOP-tail drop the pictures after the loss predict from a missing picture:
    # FFmpeg conceals that silently, the frame_num chain shows it
    broken = decode(naive + [d for picture in stream[41:] for d in picture])
    assert broken["decoded"] == broken["pictures"] and broken["corrupt"] == 0
    assert 15 <= broken["reference_missing"] <= 21


def test_not_ts_passes_unchanged_and_is_counted():
    thinner = TsThinner()
    assert thinner.filter(b"\x00" * 100) == b"\x00" * 100
    bad = b"\x46" + b"\x00" * 187
    assert thinner.filter(bad) == bad
    assert thinner.stats.not_ts == 2


def test_av1_loses_its_top_temporal_layer_and_still_decodes():
    """SVT-AV1's low-delay hierarchy: every second frame is stored in no reference slot
    (refresh_frame_flags 0). Thinning removes exactly those; libdav1d decodes the rest at
    half the frame rate, without an error."""
    from strata_roq.media.probe import MediaProbe

    src = TestSource(width=320, height=180, fps=FPS, bitrate=800_000, gop=30, codec="av1",
                     audio="opus")
    stream = [src.encode_frame(1_700_000_000_000_000_000 + int(i / FPS * 1e9))
              for i in range(90)]
    stream[-1] = stream[-1] + src.close()
    thinner = TsThinner()
    thinner.drop_disposable = True
    out = [d for d in (thinner.filter(d) for picture in stream for d in picture) if d]
    assert thinner.stats.dropped_disposable == 45 and thinner.stats.unclassified == 0
    probe = MediaProbe()
    for d in out:
        probe.feed(d, 1_700_000_004.0)
    probe.finish()
    report = probe.report()
    video = report["video"]
    assert video["frames"] == video["decoded"] == 45 and video["decode_errors"] == 0
    assert video["missing_indices"] == list(range(1, 88, 2))   # the odd frames left (89 too)
    assert report["ts"]["cc_errors"] == 0
    assert video["key_frame_indices"] == [0, 30, 60]
