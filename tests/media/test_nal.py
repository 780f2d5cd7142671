"""NAL classification against what PyAV's decoder says each picture is."""

from __future__ import annotations

import av
from hypothesis import given, strategies as st

from strata_roq.media.nal import BitReader, FrameKind, NalScanner, escape_rbsp, unescape_rbsp
from strata_roq.media.ts import TsDemuxer

_PICT = {"I": {FrameKind.I, FrameKind.IDR}, "P": {FrameKind.P}, "B": {FrameKind.B}}


def _decoder_picture_types(path) -> dict[int, str]:
    """pts → picture type (I/P/B) as libavcodec decodes it."""
    types = {}
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            types[frame.pts] = {1: "I", 2: "P", 3: "B"}.get(int(frame.pict_type), "?")
    return types


def _our_kinds(path, codec, datagrams_of):
    demuxer = TsDemuxer()
    units = []
    for d in datagrams_of(path):
        units += demuxer.feed(d, 0.0)
    units += demuxer.flush()
    scanner = NalScanner(codec)
    return {u.pts: scanner.scan(u.data) for u in units if u.codec == codec}


def _keyframes(path) -> dict[int, bool]:
    with av.open(str(path)) as container:
        return {p.pts: p.is_keyframe for p in container.demux(video=0) if p.pts is not None}


def test_h264_kinds_match_the_decoder(ffmpeg_h264_ts, datagrams_of):
    ours = _our_kinds(ffmpeg_h264_ts, "h264", datagrams_of)
    truth = _decoder_picture_types(ffmpeg_h264_ts)
    assert len(ours) == len(truth) == 90
    for pts, pict in truth.items():
        assert ours[pts].kind in _PICT[pict], (pts, pict, ours[pts].kind)
    assert {k.kind for k in ours.values()} >= {FrameKind.IDR, FrameKind.P, FrameKind.B}
    keys = _keyframes(ffmpeg_h264_ts)
    assert {p for p, k in keys.items() if k} == {p for p, i in ours.items() if i.kind.is_key}
    # x264 B-frames that nothing references are marked disposable (nal_ref_idc == 0)
    assert any(not i.reference for i in ours.values() if i.kind is FrameKind.B)
    assert all(i.reference for i in ours.values() if i.kind is not FrameKind.B)


def test_hevc_kinds_match_the_decoder(ffmpeg_hevc_ts, datagrams_of):
    ours = _our_kinds(ffmpeg_hevc_ts, "hevc", datagrams_of)
    truth = _decoder_picture_types(ffmpeg_hevc_ts)
    assert len(ours) == len(truth) == 60
    for pts, pict in truth.items():
        assert ours[pts].kind in _PICT[pict], (pts, pict, ours[pts].kind)
    keys = _keyframes(ffmpeg_hevc_ts)
    assert {p for p, k in keys.items() if k} == {p for p, i in ours.items() if i.kind.is_key}
    assert FrameKind.B in {i.kind for i in ours.values()}


def test_pyav_stream_kinds(pyav_h264_datagrams):
    datagrams, source = pyav_h264_datagrams
    demuxer = TsDemuxer()
    units = [u for d in datagrams for u in demuxer.feed(d, 0.0)] + demuxer.flush()
    scanner = NalScanner("h264")
    kinds = [scanner.scan(u.data).kind for u in units if u.codec == "h264"]
    assert len(kinds) == 90
    assert kinds.count(FrameKind.IDR) == 3 == len(source.key_indices)
    assert FrameKind.B in kinds and FrameKind.P in kinds


def test_truncated_and_garbage_heads_stay_unknown():
    scanner = NalScanner("h264")
    assert scanner.scan(b"").kind is FrameKind.UNKNOWN
    assert scanner.scan(b"\x00\x00\x01\x65").kind is FrameKind.UNKNOWN  # slice header cut off
    assert scanner.scan(b"\x00\x00\x01\x65\x88\x84").kind is FrameKind.IDR
    assert scanner.scan(b"\x00\x00\x01\x41\x9a").kind is FrameKind.P  # first_mb 0, slice_type 0
    assert scanner.scan(b"\x00\x00\x01\x01\x9e").kind is FrameKind.B  # slice_type 1, ref_idc 0
    assert not scanner.scan(b"\x00\x00\x01\x01\x9e").reference


@given(st.binary(max_size=400))
def test_scanner_never_raises_on_garbage(data):
    for codec in ("h264", "hevc"):
        NalScanner(codec).scan(data)
        NalScanner(codec).scan(b"\x00\x00\x01" + data)


@given(st.binary(max_size=300))
def test_emulation_prevention_round_trips(rbsp):
    escaped = escape_rbsp(rbsp)
    for i in range(len(escaped) - 2):
        assert not (escaped[i] == 0 and escaped[i + 1] == 0 and escaped[i + 2] <= 2)
    if not rbsp.endswith(b"\x00"):
        assert unescape_rbsp(escaped) == rbsp


def test_exp_golomb():
    # 1 → 0, 010 → 1, 011 → 2, 00100 → 3, 00111 → 6
    reader = BitReader(bytes([0b10100110, 0b01000011, 0b10000000]))
    assert [reader.ue() for _ in range(5)] == [0, 1, 2, 3, 6]
