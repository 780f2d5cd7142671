"""The probe judges what arrived: frames, decodability, latency, missing frames, RTP loss."""

from __future__ import annotations

import struct

from strata_roq.media.probe import MediaProbe, percentiles
from strata_roq.media.testsrc import TestSource


def test_clean_stream_report():
    source = TestSource(width=320, height=240, fps=30, bitrate=800_000, gop=30)
    probe = MediaProbe()
    base = 1_700_000_000.0
    for i in range(60):
        capture = base + i / 30
        for d in source.encode_frame(int(capture * 1e9)):
            probe.feed(d, capture + 0.020)  # every frame arrives 20 ms after its capture
    for d in source.close():
        probe.feed(d, base + 2.0 + 0.020)
    probe.finish()
    report = probe.report()
    video = report["video"]
    assert video["frames"] == 60 and video["decoded"] == 60 and video["missing_frames"] == 0
    assert video["key_frame_indices"] == [0, 30] == source.key_indices
    assert video["by_kind"] == {"idr": 2, "p": 58}
    assert report["audio"]["codec"] == "aac" and report["audio"]["frames"] > 80
    lat = report["latency_ms"]
    assert lat["count"] == 60 and 19.9 <= lat["p50"] <= 20.1 and lat["max"] <= 20.1
    assert report["ts"]["cc_errors"] == 0 and report["freezes"]["count"] == 0


def test_lost_datagrams_show_as_missing_or_damaged_frames(make_datagrams):
    datagrams, _ = make_datagrams(60, gop=30, audio=None)
    probe = MediaProbe(decode=False)
    for i, d in enumerate(datagrams):
        if 100 <= i < 110:
            continue
        probe.feed(d, 1000.0 + i * 0.001)
    probe.finish()
    report = probe.report()
    assert report["ts"]["cc_errors"] >= 1
    assert report["video"]["missing_frames"] + report["video"]["damaged"] >= 1
    assert report["video"]["frames"] < 60 or report["video"]["damaged"] >= 1


def test_rtp_mode_counts_loss_and_reordering(make_datagrams):
    datagrams, _ = make_datagrams(20, audio=None)
    packets = [struct.pack(">BBHII", 0x80, 33, (65530 + i) & 0xFFFF, i, 2) + d
               for i, d in enumerate(datagrams)]
    order = list(range(len(packets)))
    order.remove(5)                            # lost
    order[7], order[8] = order[8], order[7]    # swapped
    probe = MediaProbe(mode="rtp", decode=False)
    for i in order:
        probe.feed(packets[i], 0.0)
    probe.feed(b"\x80\x21\x00", 0.0)           # malformed
    rtp = probe.report()["rtp"]
    assert rtp == {"packets": len(packets) - 1, "lost": 1, "reordered": 1, "errors": 1}


def test_percentiles():
    p = percentiles(list(range(1, 101)))
    assert p["count"] == 100 and p["max"] == 100 and 50 <= p["p50"] <= 51 and p["p99"] >= 99
    assert percentiles([])["count"] == 0


def test_duplicated_frames_count_once_within_budgets():
    """A bonding sender that duplicates and a receiver that does not remove copies: each
    frame's first arrival is its latency, copies are counted apart."""
    source = TestSource(width=320, height=240, fps=30, bitrate=800_000, gop=30, audio=None)
    probe = MediaProbe(decode=False)
    base = 1_700_000_000.0
    for i in range(30):
        capture = base + i / 30
        datagrams = source.encode_frame(int(capture * 1e9))
        for d in datagrams:
            probe.feed(d, capture + 0.150)
        for d in datagrams:
            probe.feed(d, capture + 0.700)          # the copy, far later
    probe.finish()
    report = probe.report()
    assert report["video"]["repeated"] >= 25
    assert report["latency_ms"]["count"] <= 30 and report["latency_ms"]["max"] < 200
    assert report["within_ms"]["500"] <= 30 and report["within_ms"]["100"] == 0


def test_broken_pictures_are_listed_by_index_up_to_the_next_key_frame(make_datagrams):
    datagrams, source = make_datagrams(60, gop=30, audio=None)
    probe = MediaProbe(decode=False)
    for i, d in enumerate(datagrams):
        if 100 <= i < 110:                      # a loss inside a GOP
            continue
        probe.feed(d, 1000.0 + i * 0.001)
    probe.finish()
    video = probe.report()["video"]
    broken = video["broken_indices"]
    assert broken and broken == sorted(broken)
    # the damaged picture and every one after it that arrived, up to the next key frame
    end = min([k for k in video["key_frame_indices"] if k > broken[0]], default=60)
    assert broken == [i for i in range(broken[0], end) if i not in video["missing_indices"]]
    assert len(broken) == video["reference_missing"]    # every broken one here is stamped
