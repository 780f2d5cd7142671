"""AV1: OBUs, the TS start-code format, header reading, disposable frames, stamps."""

from __future__ import annotations

import fractions
import random
import re

import av
import numpy as np
import pytest

from strata_roq.media import av1
from strata_roq.media.nal import FrameKind
from strata_roq.media.testsrc import AV1_PARAMS

GOP = 30


@pytest.fixture(scope="module")
def temporal_units() -> list[bytes]:
    """64 frames from SVT-AV1 in the test source's low-delay, 3-temporal-layer mode."""
    enc = av.CodecContext.create("libsvtav1", "w")
    enc.width, enc.height, enc.pix_fmt = 320, 180, "yuv420p"
    enc.time_base, enc.framerate, enc.bit_rate = fractions.Fraction(1, 30), 30, 500_000
    enc.options = {"preset": "10", "svtav1-params": f"{AV1_PARAMS}:keyint={GOP}"}
    enc.open()
    packets = []
    texture = np.random.default_rng(5).integers(0, 255, (180, 320), np.uint8)
    for n in range(64):
        y = np.roll(texture, n * 3, axis=1)
        y[60:120, (n * 5) % 280:(n * 5) % 280 + 40] = 220
        frame = av.VideoFrame.from_ndarray(
            np.concatenate([y, np.full((90, 320), 128, np.uint8)]), format="yuv420p")
        frame.pts = n
        packets += enc.encode(frame)
    packets += enc.encode(None)
    return [bytes(p) for p in packets]


def decode(tus: list[bytes]) -> tuple[int, int]:
    """(frames out, errors) from libdav1d."""
    dec = av.CodecContext.create("libdav1d", "r")
    out = errors = 0
    for tu in tus:
        try:
            out += len(dec.decode(av.Packet(tu)))
        except av.error.FFmpegError:
            errors += 1
    return out + len(dec.decode(None)), errors


def test_leb128_round_trips():
    for value in (0, 1, 127, 128, 300, 2**21, 2**35 - 1):
        assert av1.read_leb128(av1.leb128(value) + b"\xff", 0) == (value, len(av1.leb128(value)))
    with pytest.raises(av1.ParseError):
        av1.read_leb128(b"\x80\x80", 0)


def test_ts_format_round_trips_and_never_emulates_a_start_code(temporal_units):
    rng = random.Random(7)
    zeros = [av1.Obu(av1.OBU_METADATA, None, 0, bytes(rng.choice((0, 0, 0, 1, 2, 3, 4))
                                                     for _ in range(rng.randrange(1, 60))))
             for _ in range(200)]
    tus = temporal_units + [b"".join(o.to_bytes() for o in zeros[i:i + 5])
                            for i in range(0, 200, 5)]
    for tu in tus:
        ts = av1.to_ts(tu)
        units = ts.split(av1.START_CODE)
        assert units[0] == b"" and len(units) - 1 == len(list(av1.iter_obus(tu)))
        for unit in units[1:]:          # nothing between start codes looks like one
            assert not re.search(rb"\x00\x00[\x00-\x02]", unit)
            assert not re.search(rb"\x00\x00\x03[\x04-\xff]", unit)
        assert av1.from_ts(ts) == tu


def test_an_obu_without_its_size_gets_one_out_of_ts():
    bare = bytes([av1.OBU_TEMPORAL_DELIMITER << 3]) + bytes([(av1.OBU_METADATA << 3)]) + b"x"
    ts = av1.START_CODE + bare[:1] + av1.START_CODE + bare[1:] + b"\x00"
    assert av1.from_ts(ts) == b"\x12\x00" + b"\x2a\x01x"


def test_sequence_header_gives_the_codec_string_and_ts_descriptor(temporal_units):
    seq_obu = next(o for o in av1.iter_obus(temporal_units[0])
                   if o.type == av1.OBU_SEQUENCE_HEADER)
    seq = av1.parse_sequence_header(seq_obu.payload)
    assert (seq.profile, seq.bit_depth, seq.monochrome) == (0, 8, False)
    assert (seq.subsampling_x, seq.subsampling_y) == (1, 1)
    assert re.fullmatch(r"av01\.0\.\d\dM\.08", seq.codec_string())
    desc = seq.ts_descriptor()
    assert desc[:3] == b"\x80\x04\x81" and desc[3] == seq.level and desc[4] & 0xC == 0xC


def test_scanner_finds_key_frames_and_the_disposable_layer(temporal_units):
    scanner = av1.Av1Scanner()
    infos = [scanner.scan(av1.to_ts(tu)) for tu in temporal_units]
    assert all(i.complete for i in infos)
    keys = [n for n, i in enumerate(infos) if i.kind is FrameKind.IDR]
    assert keys == [0, 30, 60]
    assert all(i.kind is FrameKind.P for n, i in enumerate(infos) if n not in keys)
    disposable = [n for n, i in enumerate(infos) if not i.reference]
    assert disposable == [n for n in range(64) if n % 2]   # the top temporal layer
    # low-overhead input reads the same
    again = av1.Av1Scanner()
    assert [again.scan(tu, ts_format=False).reference for tu in temporal_units] == \
        [i.reference for i in infos]


def test_without_the_disposable_layer_every_frame_still_decodes(temporal_units):
    scanner = av1.Av1Scanner()
    kept = [tu for tu in temporal_units if scanner.scan(tu, ts_format=False).reference]
    assert len(kept) == 32
    assert decode(kept) == (32, 0)


def test_a_stamp_rides_in_metadata_that_decoders_skip(temporal_units):
    stamped = [av1.insert_metadata(tu, b"stamp-%d" % n) for n, tu in enumerate(temporal_units)]
    scanner = av1.Av1Scanner()
    assert [scanner.scan(av1.to_ts(tu)).user_data for tu in stamped] == \
        [[b"stamp-%d" % n] for n in range(64)]
    assert decode(stamped) == (64, 0)


def test_a_frame_head_cut_short_is_still_classified(temporal_units):
    scanner = av1.Av1Scanner()
    key, disposable = av1.to_ts(temporal_units[0]), av1.to_ts(temporal_units[1])
    assert len(key) > 400
    assert scanner.scan(key[:120]).kind is FrameKind.IDR
    info = scanner.scan(disposable[:40])
    assert info.complete and not info.reference
    assert not scanner.scan(key[:8]).complete          # no frame header yet: not settled


def test_garbage_is_never_an_exception():
    rng = random.Random(3)
    scanner = av1.Av1Scanner()
    for _ in range(300):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        for data in (junk, av1.START_CODE + junk, av1.START_CODE + b"\x32" + junk):
            scanner.scan(data)
            scanner.scan(data, ts_format=False)
            av1.from_ts(data)
