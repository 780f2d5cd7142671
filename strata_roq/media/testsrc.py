"""A live test source: moving picture + tone, encoded and muxed to MPEG-TS datagrams.

Every test and benchmark needs real media with known frames. :class:`TestSource` makes one
picture per call (a scrolling gradient, a moving box and the frame number as a bar code),
encodes it with libx264/libx265 tuned for low delay (or SVT-AV1 in its low-delay mode with
three temporal layers), stamps it with its capture time (:mod:`strata_roq.media.stamp`),
muxes it with AAC or Opus audio into MPEG-TS with PyAV, and
returns the datagrams (7×188 bytes; a shorter one closes each frame so no frame waits for
the next). It never sleeps or reads a clock: the caller passes the capture time and paces.
"""

from __future__ import annotations

import fractions
import io
import os

import numpy as np

from strata_roq.media import av1
from strata_roq.media.stamp import CaptureStamp, insert_stamp
from strata_roq.media.ts import TS_PACKET_SIZE, add_es_descriptors

DATAGRAM_PACKETS = 7
DATAGRAM_SIZE = DATAGRAM_PACKETS * TS_PACKET_SIZE
AUDIO_RATE = 48000
#: Audio is encoded this far ahead of the picture so the muxer's interleaving never holds a
#: video frame back waiting for audio (a video frame leaves the muxer as soon as it is fed).
AUDIO_LEAD = 0.12
#: PIDs asked of FFmpeg's muxer (its defaults), so the AV1 PMT and PES can be completed
PMT_PID, VIDEO_PID = 0x1000, 0x100
#: SVT-AV1 low delay: hierarchical-levels=2 is a 3-layer temporal hierarchy (every second
#: picture is in the top layer, referenced by nothing); rc=2 is CBR, what low delay needs
AV1_PARAMS = "pred-struct=1:hierarchical-levels=2:rc=2"


class _Sink(io.RawIOBase):
    """In-memory file object the muxer writes to."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.buffer += b
        return len(b)


class TestSource:
    """Encodes synthetic frames on demand; see the module docstring."""

    __test__ = False  # not a pytest class

    def __init__(self, *, width: int = 1280, height: int = 720, fps: int = 30,
                 bitrate: int = 4_000_000, gop: int = 60, bframes: int = 0,
                 codec: str = "h264", audio: str | None = "aac", stream_id: int = 1,
                 stamp: bool = True, cbr: bool = False, adaptive: bool = False) -> None:
        """``cbr``: constant bit rate like a broadcast encoder (H.264 NAL HRD CBR with filler,
        VBV of two frames) — a synthetic picture is otherwise far cheaper than its target."""
        import av

        if codec not in ("h264", "hevc", "av1"):
            raise ValueError(f"unsupported video codec {codec!r} (h264, hevc or av1)")
        if audio not in ("aac", "opus", None):
            raise ValueError(f"unsupported audio codec {audio!r} (aac, opus or none)")
        self.width, self.height, self.fps = width - width % 2, height - height % 2, fps
        self.codec, self.audio_codec, self.stream_id, self.stamp = codec, audio, stream_id, stamp
        self.gop = gop
        self.frame_index = 0
        self.video_packets = 0
        self.bytes_out = 0
        self._sink = _Sink()
        self._pending = bytearray()
        self._container = av.open(self._sink, "w", format="mpegts", options={
            "flush_packets": "1", "max_interleave_delta": "1", "pes_payload_size": "0",
            "pcr_period": "20", "max_delay": "100000", "mpegts_pmt_start_pid": str(PMT_PID),
            "mpegts_start_pid": str(VIDEO_PID),
            # AV1's PES is private_stream_1, whose length must be written
            "omit_video_pes_length": "0" if codec == "av1" else "1"})
        self._av1_descriptors = b""
        if codec == "h264":
            params = f"keyint={gop}:min-keyint={gop}:scenecut=0:aud=1:bframes={bframes}"
            if bframes:
                params += ":b-adapt=0:rc-lookahead=0"
            options = {"preset": "ultrafast", "tune": "zerolatency", "forced-idr": "1"}
            if adaptive:
                # ABR under a VBV ceiling set through the codec context (maxrate/bufsize):
                # libx264 then reconfigures its target whenever bit_rate changes between
                # pictures (FFmpeg's reconfig_encoder), so set_bitrate() acts within frames.
                options.update(maxrate=str(bitrate), bufsize=str(max(2 * bitrate // fps, 1000)))
            elif cbr:
                kbps = bitrate // 1000
                params += f":nal-hrd=cbr:vbv-maxrate={kbps}:vbv-bufsize={max(2 * kbps // fps, 1)}"
            options["x264-params"] = params
            self._video = self._container.add_stream("libx264", rate=fps, options=options)
        elif codec == "av1":
            # AV1 in TS is completed here (AOM "Carriage of AV1 in MPEG-2 TS"): FFmpeg's
            # muxer writes the OBUs bare; we hand it start-code format and add the PMT's
            # 'AV01' registration and AV1 video descriptor (see _complete_av1_ts).
            os.environ.setdefault("SVT_LOG", "1")        # SVT-AV1: errors only on stderr
            # Preset 12 (of 0-13, fastest last): a live test source on a shared 2-core
            # machine; 10 took ~20 % more CPU (5.4 vs 4.5 s for 10 s of 640x360) beside
            # two Chromium pages that were short of it.
            options = {"preset": "12", "svtav1-params": f"{AV1_PARAMS}:keyint={gop}"}
            self._video = self._container.add_stream("libsvtav1", rate=fps, options=options)
        else:
            params = (f"keyint={gop}:min-keyint={gop}:scenecut=0:aud=1:bframes={bframes}"
                      ":log-level=error:repeat-headers=1")
            if cbr:
                kbps = bitrate // 1000
                params += f":vbv-maxrate={kbps}:vbv-bufsize={max(2 * kbps // fps, 1)}:hrd=1"
            options = {"preset": "ultrafast", "tune": "zerolatency", "forced-idr": "1",
                       "x265-params": params}
            self._video = self._container.add_stream("libx265", rate=fps, options=options)
        self._video.width, self._video.height = self.width, self.height
        self._video.pix_fmt = "yuv420p"
        self._video.bit_rate = bitrate
        self.max_bitrate = bitrate
        self.adaptive = adaptive and codec == "h264"
        self.retargets = 0
        self.keys_forced = 0
        self._key_requested = False
        self._fill_budget = 0.0       # adaptive: bytes the target rate still allows
        self._video.codec_context.time_base = fractions.Fraction(1, fps)
        self._capture_ns: dict[int, int] = {}
        self.key_indices: list[int] = []  # indices of the pictures encoded as key frames
        self._audio = None
        self._audio_pts = 0
        if audio:
            name = "aac" if audio == "aac" else "libopus"
            self._audio = self._container.add_stream(name, rate=AUDIO_RATE)
            self._audio.layout = "stereo"
            self._audio.bit_rate = 96_000
        self._audio_frame_size = 1024 if audio == "aac" else 960
        self._base_y = np.add.outer(np.arange(self.height) // 4,
                                    np.arange(self.width * 2) // 5).astype(np.uint8)
        self._uv = np.full((self.height // 2, self.width), 128, np.uint8)

    # -- picture and sound --------------------------------------------------------------
    def _picture(self, index: int):
        import av

        h, w = self.height, self.width
        shift = (index * 8) % w
        y = self._base_y[:, shift:shift + w].copy()
        box = min(h, w) // 6
        bx = (index * 7) % max(1, w - box)
        by = (h - box) // 2 + int((h // 4) * np.sin(index / 15))
        by = max(0, min(h - box, by))
        y[by:by + box, bx:bx + box] = 235
        bits = max(1, w // 32)
        for b in range(32):  # the frame number as a bar code along the top
            y[: h // 24, b * bits:(b + 1) * bits] = 235 if (index >> (31 - b)) & 1 else 16
        uv = self._uv.copy()
        uv[: h // 4, (index * 3) % (w // 2)] = 60
        frame = av.VideoFrame.from_ndarray(np.concatenate([y, uv]), format="yuv420p")
        frame.pts = index
        frame.time_base = fractions.Fraction(1, self.fps)
        return frame

    def _encode_audio_until(self, seconds: float) -> None:
        import av

        size = self._audio_frame_size
        while self._audio_pts < seconds * AUDIO_RATE:
            t = (self._audio_pts + np.arange(size)) / AUDIO_RATE
            tone = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp",
                                               layout="stereo")
            frame.sample_rate = AUDIO_RATE
            frame.pts = self._audio_pts
            frame.time_base = fractions.Fraction(1, AUDIO_RATE)
            self._audio_pts += size
            for packet in self._audio.encode(frame):
                self._container.mux(packet)

    # -- public ---------------------------------------------------------------------------
    @property
    def bitrate(self) -> int:
        return self._video.codec_context.bit_rate

    def set_bitrate(self, bps: float) -> int:
        """Re-target the video encoder (``adaptive`` sources only) between pictures, within
        [100 kbit/s, the configured bitrate — the VBV ceiling]; returns the new target."""
        if not self.adaptive:
            raise ValueError("set_bitrate needs a source made with adaptive=True (H.264)")
        target = int(max(100_000, min(self.max_bitrate, bps)))
        if target != self._video.codec_context.bit_rate:
            self._video.codec_context.bit_rate = target
            self.retargets += 1
        return target

    def request_key_frame(self) -> None:
        """Make the next picture a key frame (what a PLI/FIR asks of a real encoder)."""
        self._key_requested = True

    def encode_frame(self, capture_ns: int) -> list[bytes]:
        """Make, encode, stamp and mux the next picture; return the datagrams it produced.

        ``capture_ns`` is the capture time (Unix-epoch ns) stamped into the picture.
        With B-frames the encoder may return a picture's data one or more calls later.
        """
        import av

        index = self.frame_index
        self.frame_index += 1
        if self._audio is not None:
            self._encode_audio_until(index / self.fps + AUDIO_LEAD)
        picture = self._picture(index)
        if self._key_requested:
            # A key frame on request (a reference was lost downstream); libx264 makes it an
            # IDR (closed GOP, forced-idr), x265 an IRAP: decoding restarts from it.
            picture.pict_type = av.video.frame.PictureType.I
            self._key_requested = False
            self.keys_forced += 1
        self._capture_ns[index] = capture_ns
        for packet in self._video.encode(picture):
            self._mux_video(packet, av)
        return self._datagrams(final=True)

    def _mux_video(self, packet, av) -> None:
        data = bytes(packet)
        if self.stamp:
            # pts counts pictures, so the stamp carries the index of this picture
            pts_index = (round(packet.pts * packet.time_base * self.fps)
                         if packet.pts is not None else self.video_packets)
            capture_ns = self._capture_ns.pop(pts_index, 0)
            if packet.is_keyframe:
                self.key_indices.append(pts_index)
            stamp = CaptureStamp(self.stream_id, pts_index, capture_ns)
            if self.codec == "av1":
                data = av1.insert_metadata(data, stamp.payload())
            else:
                data = insert_stamp(data, stamp, self.codec)
        if self.codec == "av1":
            data = self._av1_for_ts(data)
        if self.adaptive:
            data = self._fill_to_target(data)
        out = av.Packet(data)
        out.pts, out.dts, out.time_base = packet.pts, packet.dts, packet.time_base
        out.is_keyframe = packet.is_keyframe
        out.stream = self._video
        self._container.mux(out)
        self.video_packets += 1

    def _fill_to_target(self, data: bytes) -> bytes:
        """Pad a picture with an H.264 filler-data NAL unit (type 12, what an HRD-CBR
        encoder sends) so the stream runs at the target rate: a synthetic picture is cheap
        and ABR alone would undershoot, which would hide whether the rate is followed. Big
        pictures (key frames) borrow from the following ones, as a VBV does; at most one
        picture's worth of unused budget carries over."""
        per_picture = self._video.codec_context.bit_rate / 8 / self.fps
        self._fill_budget = min(self._fill_budget + per_picture, 2 * per_picture) - len(data)
        pad = int(self._fill_budget) - 6
        if pad <= 0:
            return data
        self._fill_budget -= pad + 6
        return data + b"\x00\x00\x00\x01\x0c" + b"\xff" * pad + b"\x80"

    def _av1_for_ts(self, tu: bytes) -> bytes:
        """A temporal unit in start-code format; the sequence header, once seen, gives the
        PMT's AV1 video descriptor."""
        if not self._av1_descriptors:
            for obu in av1.iter_obus(tu):
                if obu.type == av1.OBU_SEQUENCE_HEADER:
                    seq = av1.parse_sequence_header(obu.payload)
                    self._av1_descriptors = b"\x05\x04AV01" + seq.ts_descriptor()
        return av1.to_ts(tu)

    def _complete_av1_ts(self, pending: bytearray) -> None:
        """What FFmpeg's muxer leaves out of AV1 in TS: the PMT's registration and AV1
        video descriptor, and PES stream_id 0xBD (private_stream_1) instead of 0xE0."""
        for i in range(0, len(pending) - TS_PACKET_SIZE + 1, TS_PACKET_SIZE):
            pid = ((pending[i + 1] & 0x1F) << 8) | pending[i + 2]
            if not pending[i + 1] & 0x40:
                continue
            if pid == PMT_PID and self._av1_descriptors:
                pending[i:i + TS_PACKET_SIZE] = add_es_descriptors(
                    bytes(pending[i:i + TS_PACKET_SIZE]), VIDEO_PID, self._av1_descriptors)
            elif pid == VIDEO_PID:
                at = i + 4 + (1 + pending[i + 4] if pending[i + 3] & 0x20 else 0)
                if pending[at:at + 4] == b"\x00\x00\x01\xe0":
                    pending[at + 3] = 0xBD

    def _datagrams(self, final: bool) -> list[bytes]:
        self._pending += self._sink.buffer
        self._sink.buffer.clear()
        pending = self._pending
        if self.codec == "av1":
            self._complete_av1_ts(pending)
        out = [bytes(pending[i:i + DATAGRAM_SIZE])
               for i in range(0, len(pending) - DATAGRAM_SIZE + 1, DATAGRAM_SIZE)]
        rest = len(pending) % DATAGRAM_SIZE
        del pending[:len(pending) - rest]
        if final and pending:
            out.append(bytes(pending))
            pending.clear()
        self.bytes_out += sum(len(d) for d in out)
        return out

    def close(self) -> list[bytes]:
        """Flush the encoders and the muxer; return the last datagrams."""
        import av

        for packet in self._video.encode(None):
            self._mux_video(packet, av)
        if self._audio is not None:
            for packet in self._audio.encode(None):
                self._container.mux(packet)
        self._container.close()
        return self._datagrams(final=True)
