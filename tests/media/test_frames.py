"""The Framer: frame boundaries and kinds agree with PyAV's demuxer; RTP modes; bad input."""

from __future__ import annotations

import struct
import time

import av
from hypothesis import given, settings, strategies as st

from strata_roq.media.frames import DISPOSABLE_PRIORITY, Framer, MediaFrame
from strata_roq.media.nal import FrameKind


def _frames(datagrams, mode="ts", **kwargs) -> list[MediaFrame]:
    framer = Framer(latency=0.5, mode=mode, **kwargs)
    out = []
    for i, d in enumerate(datagrams):
        frame = framer.push(d, i * 0.001)
        assert frame is not None
        assert frame.deadline == frame.capture_time + 0.5
        out += framer.pop_completed()
    return out + framer.flush()


def _pyav_video(path):
    with av.open(str(path)) as container:
        return [(p.pts, p.is_keyframe) for p in container.demux(video=0) if p.size]


def test_frames_match_pyav_demuxer(ffmpeg_h264_ts, datagrams_of):
    frames = _frames(datagrams_of(ffmpeg_h264_ts))
    video = [f for f in frames if f.codec == "h264"]
    truth = _pyav_video(ffmpeg_h264_ts)
    assert [f.pts for f in video] == [p for p, _ in truth]
    assert [f.is_key for f in video] == [k for _, k in truth]
    assert {f.kind for f in video} == {FrameKind.IDR, FrameKind.P, FrameKind.B}
    assert all(f.complete for f in frames)
    # every datagram is in exactly one frame, in order
    assert sum(len(f.packets) for f in frames) == len(datagrams_of(ffmpeg_h264_ts))
    assert [f.gop for f in video if f.is_key] == [1, 2, 3]
    audio = [f for f in frames if f.kind is FrameKind.AUDIO]
    assert audio and all(f.priority > max(v.priority for v in video if not v.is_key)
                         for f in audio)
    disposable = [f for f in video if not f.reference]
    assert disposable and all(f.priority == DISPOSABLE_PRIORITY for f in disposable)


def test_pyav_source_frames_carry_stamps(pyav_h264_datagrams):
    datagrams, source = pyav_h264_datagrams
    video = [f for f in _frames(datagrams) if f.codec == "h264"]
    assert len(video) == 90
    assert sorted(f.stamp.frame_index for f in video) == list(range(90))
    assert [f.stamp.frame_index for f in video if f.is_key] == source.key_indices == [0, 30, 60]
    # pictures come in decode order with B-frames; stamps name display order
    assert [f.stamp.frame_index for f in video][:4] == [0, 3, 1, 2]
    assert sum(f.kind is FrameKind.AUDIO for f in _frames(datagrams)) > 100


def test_av1_frames_are_classified_and_the_top_layer_is_disposable():
    from strata_roq.media.testsrc import TestSource

    source = TestSource(width=320, height=180, fps=30, bitrate=600_000, gop=30, codec="av1")
    datagrams = [d for i in range(60) for d in source.encode_frame(i * 33_333_333)]
    video = [f for f in _frames(datagrams + source.close()) if f.codec == "av1"]
    assert [f.stamp.frame_index for f in video] == list(range(60))
    assert [f.stamp.frame_index for f in video if f.is_key] == [0, 30]
    assert all(f.kind is FrameKind.P for f in video if not f.is_key)
    disposable = [f.stamp.frame_index for f in video if f.priority == DISPOSABLE_PRIORITY]
    assert disposable == list(range(1, 60, 2))
    assert all(f.gop == (1 if f.stamp.frame_index < 30 else 2) for f in video)


def test_a_stamped_pictures_deadline_counts_from_its_capture():
    """Glass to glass: the time a picture spent in the encoder is part of its budget. With
    the stamp's clock known (``wall_offset``) the deadline is capture + latency; a stamp
    that cannot be from this clock (far in the past, or the future) is ignored."""
    from strata_roq.media.testsrc import TestSource

    source = TestSource(width=320, height=240, fps=30, bitrate=800_000, gop=30)
    base = time.time_ns()
    arrivals = []                       # what the encoder gave out, 20 ms after capture
    for i in range(60):
        capture = base + i * 33_333_333
        arrivals += [(d, (capture - base) / 1e9 + 0.02) for d in source.encode_frame(capture)]
    results = {}
    for name, offset in (("same clock", base / 1e9), ("other clock", base / 1e9 + 10.0)):
        framer = Framer(latency=0.5)
        framer.wall_offset = offset
        frames = []
        for d, t in arrivals:
            framer.push(d, t)
            frames += framer.pop_completed()
        results[name] = framer, [f for f in frames + framer.flush() if f.stamp]
    framer, video = results["same clock"]
    assert len(video) >= 55 and framer.stamps_used == len(video)
    for f in video:
        assert abs(f.capture_time - (f.stamp.capture_ns - base) / 1e9) < 1e-6
        assert abs(f.deadline - (f.capture_time + 0.5)) < 1e-9
        assert f.first_time - f.capture_time > 0.0199
    skewed, video = results["other clock"]
    assert all(f.capture_time == f.first_time for f in video)
    assert skewed.stamps_used == 0 and skewed.stamps_implausible == len(video)


def _holds_random_access_start(datagram: bytes, pid: int) -> bool:
    """Whether a TS packet of ``pid`` in the datagram starts a PES at a random-access point."""
    for base in range(0, len(datagram), 188):
        head = datagram[base:base + 6]
        if ((head[1] & 0x1F) << 8 | head[2]) == pid and head[1] & 0x40:
            return bool(head[3] & 0x20 and head[4] and head[5] & 0x40)
    return False


def test_a_datagram_shared_with_a_key_frame_travels_with_the_key_frame(pyav_h264_datagrams):
    # TS datagrams (7 packets) do not end where pictures do: the one holding the tail of the
    # picture (or audio frame) before a key frame also holds the key frame's head. Sent with
    # that frame, it would be lost with it (dropped, reset) and take the key frame's head along.
    datagrams, _ = pyav_h264_datagrams
    frames = _frames(datagrams)
    pid = next(f.stream for f in frames if f.codec == "h264")
    holders = [f for f in frames for d in f.packets if _holds_random_access_start(bytes(d), pid)]
    assert len(holders) == 3 and all(f.is_key for f in holders)
    # (the case arises in this stream: a key frame's first datagram starts with another's tail)
    assert any(bytes(f.packets[0][1:3]) != bytes([0x40 | pid >> 8, pid & 0xFF]) for f in holders)
    assert sum(len(f.packets) for f in frames) == len(datagrams)


def _rtp(payload: bytes, seq: int, ts: int, pt: int = 33, marker: bool = False) -> bytes:
    return struct.pack(">BBHII", 0x80, pt | (0x80 if marker else 0), seq & 0xFFFF, ts,
                       0x1234) + payload


def test_rtp_mp2t_gives_the_same_frames(pyav_h264_datagrams):
    datagrams, _ = pyav_h264_datagrams
    plain = _frames(datagrams)
    rtp = _frames([_rtp(d, i, i * 3000) for i, d in enumerate(datagrams)], mode="rtp")
    assert [(f.kind, f.pts, len(f.packets)) for f in rtp] == \
        [(f.kind, f.pts, len(f.packets)) for f in plain]


def _rfc6184(access_unit: bytes, mtu: int = 300):
    """Packetise an Annex-B access unit as RFC 6184 single NAL / FU-A payloads."""
    nals = [n for n in access_unit.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01") if n]
    for nal in nals:
        if len(nal) <= mtu:
            yield nal
            continue
        head, body = nal[0], nal[1:]
        for i in range(0, len(body), mtu):
            start, end = i == 0, i + mtu >= len(body)
            yield bytes([(head & 0xE0) | 28, (0x80 if start else 0) | (0x40 if end else 0)
                         | (head & 0x1F)]) + body[i:i + mtu]


def test_rtp_h264_payload_is_classified(ffmpeg_h264_ts):
    packets, seq = [], 0
    with av.open(str(ffmpeg_h264_ts)) as container:
        truth = []
        for p in container.demux(video=0):
            if not p.size:
                continue
            truth.append(p.is_keyframe)
            payloads = list(_rfc6184(bytes(p)))
            for k, payload in enumerate(payloads):
                packets.append(_rtp(payload, seq, p.pts, pt=96, marker=k == len(payloads) - 1))
                seq += 1
    frames = _frames(packets, mode="rtp", rtp_codec="h264")
    assert [f.is_key for f in frames] == truth
    assert FrameKind.B in {f.kind for f in frames}


def test_malformed_packets_are_counted_and_dropped():
    framer = Framer(mode="ts")
    assert framer.push(b"\x47" * 100, 0.0) is None
    assert framer.push(b"\x00" * 188, 0.0) is None
    assert framer.counters.truncated == 1 and framer.counters.sync_errors == 1
    rtp = Framer(mode="rtp")
    assert rtp.push(b"\x80\x21", 0.0) is None
    assert rtp.push(b"\x40" + bytes(20), 0.0) is None           # version 1
    assert rtp.push(b"\x90\x21" + bytes(10) + b"\x00\x00\x00\x09", 0.0) is None  # ext past end
    assert rtp.rtp_errors == 3


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=1400), max_size=8))
def test_random_input_never_raises(chunks):
    for mode in ("ts", "rtp"):
        framer = Framer(mode=mode, rtp_codec="h264" if mode == "rtp" else None)
        for c in chunks:
            framer.push(c, 0.0)
            framer.push(b"\x47" + c[:187].ljust(187, b"\x00"), 0.0)
        framer.flush()
