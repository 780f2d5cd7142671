"""TS → browser frames: every access unit once, key flags, PTS, capture stamps, codec
strings the page configures WebCodecs with."""

import pytest

import re

from strata_roq.errors import ParseError
from strata_roq.media.testsrc import TestSource
from strata_roq.wt.extract import FrameExtractor, avc_codec_string, split_adts
from strata_roq.wt.wire import AUDIO, VIDEO, WebFrame, decode_frame


def _run(frames=60, gop=30, audio="aac", codec="h264", bframes=0):
    source = TestSource(width=320, height=240, fps=30, bitrate=600_000, gop=gop, audio=audio,
                        codec=codec, bframes=bframes)
    ex = FrameExtractor()
    out = []
    base = 1_700_000_000.0
    for i in range(frames):
        capture = base + i / 30
        for d in source.encode_frame(int(capture * 1e9)):
            out += ex.feed(d, capture)
    for d in source.close():
        out += ex.feed(d, base + 3)
    out += ex.flush()
    return ex, out, source


def test_every_video_frame_once_with_key_flags_and_stamps():
    ex, out, source = _run()
    video = [f for f in out if f.kind == VIDEO]
    assert len(video) == 60
    assert [f.index for f in video] == list(range(60))
    assert [i for i, f in enumerate(video) if f.key] == source.key_indices == [0, 30]
    assert all(b.pts_us > a.pts_us for a, b in zip(video, video[1:]))
    assert abs((video[1].pts_us - video[0].pts_us) - 33_333) < 20
    assert all(f.capture_us for f in video)
    assert [f.source_index for f in video] == list(range(60))
    assert abs(video[5].capture_us / 1e6 - (1_700_000_000.0 + 5 / 30)) < 1e-3
    assert ex.video_codec and ex.video_codec.startswith("avc1.")
    assert video[0].data.startswith(b"\0\0\0\1") or video[0].data.startswith(b"\0\0\1")


def test_av1_frames_leave_in_the_low_overhead_form_webcodecs_wants():
    import av

    from strata_roq.media import av1

    ex, out, source = _run(codec="av1", audio="opus")
    video = [f for f in out if f.kind == VIDEO]
    assert len(video) == 60 and [f.source_index for f in video] == list(range(60))
    assert [i for i, f in enumerate(video) if f.key] == source.key_indices == [0, 30]
    assert re.fullmatch(r"av01\.0\.\d\dM\.08", ex.video_codec)
    assert all(f.capture_us for f in video)
    assert all(b"\x00\x00\x01" not in f.data[:3] for f in video)   # no start codes left
    assert [o.type for o in av1.iter_obus(video[0].data)][:2] == [av1.OBU_TEMPORAL_DELIMITER,
                                                                  av1.OBU_SEQUENCE_HEADER]
    decoder = av.CodecContext.create("libdav1d", "r")
    pictures = sum(len(decoder.decode(av.Packet(f.data))) for f in video)
    assert pictures + len(decoder.decode(None)) == 60
    assert not ex.unsupported
    # a PES with no OBU in it (garbage between start codes) is counted, never handed on
    unit = type("Unit", (), {"data": b"\x00\x00\x01\xff\xff", "random_access": False,
                             "pts": 90_000, "pid": ex._video_pid, "codec": "av1"})()
    damaged = ex.damaged
    assert ex._video(unit) is None and ex.damaged == damaged + 1


@pytest.mark.parametrize("codec,decoder,bframes", [("av1", "libdav1d", 0), ("h264", "h264", 2)])
def test_pictures_nothing_references_are_marked_and_decoding_goes_on_without_them(
        codec, decoder, bframes):
    """What a joiner's catch-up leaves out: AV1's top temporal layer, H.264's disposable
    B-frames. The rest still decodes, picture for picture."""
    import av

    ex, out, _ = _run(codec=codec, audio=None, bframes=bframes)
    video = [f for f in out if f.kind == VIDEO]
    kept = [f for f in video if f.reference]
    assert all(f.reference for f in video if f.key)
    assert 0.3 * len(video) <= len(kept) <= 0.7 * len(video), [f.reference for f in video]
    ctx = av.CodecContext.create(decoder, "r")
    pictures = sum(len(ctx.decode(av.Packet(f.data))) for f in kept)
    assert pictures + len(ctx.decode(None)) == len(kept)


def test_audio_frames_are_split_per_adts_frame():
    ex, out, _ = _run()
    audio = [f for f in out if f.kind == AUDIO]
    assert len(audio) > 80                                  # 2 s of 48 kHz AAC: ~94 frames
    assert ex.audio == {"codec": "mp4a.40.2", "sampleRate": 48000, "numberOfChannels": 2}
    steps = {b.pts_us - a.pts_us for a, b in zip(audio, audio[1:])}
    assert all(abs(s - 1024 * 1e6 / ex.audio["sampleRate"]) < 30 for s in steps)
    assert all(f.data[0] == 0xFF for f in audio)


def test_opus_packets_come_bare_and_timed_by_their_toc():
    ex, out, _ = _run(audio="opus")
    audio = [f for f in out if f.kind == AUDIO]
    assert len(audio) >= 95                                 # 2 s of 20-ms Opus packets
    assert ex.audio == {"codec": "opus", "sampleRate": 48000, "numberOfChannels": 2}
    assert all(b.pts_us - a.pts_us == 20_000 for a, b in zip(audio, audio[1:]))
    assert all(f.data[0] != 0x7F for f in audio)            # no TS control header left
    assert [f.index for f in audio] == list(range(len(audio)))
    assert not ex.unsupported


def test_wire_header_round_trip_and_rejects_garbage():
    f = WebFrame(VIDEO, True, 7, 123_456, 1_700_000_000_000_000, b"\0\0\0\1\x65abc", 41)
    assert decode_frame(f.encode()) == f
    with pytest.raises(ParseError):
        decode_frame(b"\x53\x01")
    with pytest.raises(ParseError):
        decode_frame(b"X" * 40)


def test_codec_string_and_adts_edge_cases():
    sps = b"\0\0\0\1\x67\x64\x00\x1f\xac" + b"\0\0\0\1\x68\xee"
    assert avc_codec_string(sps) == "avc1.64001F"
    assert avc_codec_string(b"\0\0\0\1\x41\x9a") is None
    assert split_adts(b"\xff\xf1\x50\x80\x00\x1f\xfc") == []     # length says 0: garbage
    assert split_adts(b"not adts at all") == []


def test_datagram_fragments_reassemble_in_any_order_and_garbage_is_ignored():
    import random

    from strata_roq.wt.wire import FRAGMENT_PAYLOAD, Reassembler, fragments

    frame = WebFrame(VIDEO, True, 7, 1000, 2000, bytes(range(256)) * 40, 7).encode()
    parts = fragments(frame, 5)
    assert len(parts) == -(-len(frame) // FRAGMENT_PAYLOAD) and len(parts) > 5
    random.Random(1).shuffle(parts)
    whole = Reassembler()
    assert whole.add(b"\x44\x01") is None and whole.add(b"junk" * 10) is None
    out = [whole.add(p) for p in parts[:-1]] + [whole.add(parts[0])]   # one duplicate
    assert out == [None] * len(parts)
    assert whole.add(parts[-1]) == frame
    small = WebFrame(AUDIO, True, 1, 0, 0, b"x" * 12).encode()
    assert decode_frame(whole.add(fragments(small, 6)[0])).data == b"x" * 12   # one slice
    for seq in range(100):                   # frames that never complete do not pile up
        whole.add(fragments(bytes(3000), 1000 + seq)[0])
    assert len(whole._parts) <= 64           # noqa: SLF001
