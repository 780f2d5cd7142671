"""MPEG-TS in, browser-ready frames out: the gateway demuxes server-side so the page needs
only WebCodecs (no TS parser in JavaScript).

:class:`FrameExtractor` takes TS datagrams (what RIST or UDP delivers) and yields
:class:`~strata_roq.wt.wire.WebFrame` objects: one per video frame — an H.264 access unit
(Annex-B) or an AV1 temporal unit (out of TS's start-code format into the low-overhead
form WebCodecs wants) — with key flag, PTS and the capture time from the Strata stamp when
present, and one per audio frame (an AAC ADTS frame, or a bare Opus packet out of its TS
control header). It also learns what the page must configure its decoders with — the
WebCodecs codec string from the SPS (``avc1.PPCCLL``) or the AV1 sequence header
(``av01.P.LLT.DD``), and the audio codec, sample rate and channels (from the ADTS header,
or the Opus TOC byte).
Sans-I/O: bytes and arrival times in, frames out.
"""

from __future__ import annotations

from strata_roq.media import av1, opus
from strata_roq.media.frames import video_scanner
from strata_roq.media.nal import iter_nal_units
from strata_roq.media.stamp import find_stamp
from strata_roq.media.ts import TsDemuxer
from strata_roq.wt.wire import AUDIO, NO_INDEX, VIDEO, WebFrame

ADTS_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025,
              8000, 7350]
PTS_WRAP = 1 << 33
#: video codecs the page can decode (WebCodecs), as the TS demuxer names them
WEB_VIDEO = ("h264", "av1")


def avc_codec_string(access_unit: bytes) -> str | None:
    """``avc1.PPCCLL`` from the first SPS (NAL type 7) in an Annex-B access unit."""
    for start, end in iter_nal_units(access_unit):
        if end - start >= 4 and access_unit[start] & 0x1F == 7:
            p, c, lv = access_unit[start + 1:start + 4]
            return f"avc1.{p:02X}{c:02X}{lv:02X}"
    return None


def split_adts(data: bytes) -> list[tuple[bytes, int, int, int]]:
    """(frame, sample rate, channels, object type) per ADTS frame; stops at garbage."""
    out, i, n = [], 0, len(data)
    while i + 7 <= n:
        if data[i] != 0xFF or data[i + 1] & 0xF6 != 0xF0:
            break
        profile = data[i + 2] >> 6
        rate_index = (data[i + 2] >> 2) & 0x0F
        channels = ((data[i + 2] & 1) << 2) | (data[i + 3] >> 6)
        length = ((data[i + 3] & 0x03) << 11) | (data[i + 4] << 3) | (data[i + 5] >> 5)
        if length < 7 or i + length > n or rate_index >= len(ADTS_RATES):
            break
        out.append((data[i:i + length], ADTS_RATES[rate_index], channels, profile + 1))
        i += length
    return out


class _Unwrap:
    """33-bit 90 kHz PTS → monotonically extended µs."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.base = 0

    def us(self, pts: int) -> int:
        if self.last is not None and pts < self.last and self.last - pts > PTS_WRAP // 2:
            self.base += PTS_WRAP
        self.last = pts
        return (self.base + pts) * 100 // 9


class FrameExtractor:
    def __init__(self) -> None:
        self.demuxer = TsDemuxer()
        self.video_codec: str | None = None        # WebCodecs codec string
        self.audio: dict | None = None             # {"codec", "sampleRate", "numberOfChannels"}
        self.video_frames = 0
        self.audio_frames = 0
        self.damaged = 0
        self.unsupported: set[str] = set()
        self._video_pid: int | None = None
        self._audio_pid: int | None = None
        self._scanner = None                       # NalScanner or Av1Scanner, by codec
        self._codec: str | None = None
        self._video_pts = _Unwrap()
        self._audio_pts = _Unwrap()

    def feed(self, datagram: bytes, now: float) -> list[WebFrame]:
        out: list[WebFrame] = []
        for unit in self.demuxer.feed(datagram, now):
            if unit.cc_error:
                self.damaged += 1       # a damaged frame would only break the decoder
                continue
            if unit.codec in WEB_VIDEO and self._video_pid in (None, unit.pid):
                self._video_pid = unit.pid
                frame = self._video(unit)
                if frame is not None:
                    out.append(frame)
            elif unit.codec in ("aac", "opus") and self._audio_pid in (None, unit.pid):
                self._audio_pid = unit.pid
                out += self._aac(unit) if unit.codec == "aac" else self._opus(unit)
            elif unit.codec not in ("metadata", "data"):
                self.unsupported.add(unit.codec)
        return out

    def _video(self, unit) -> WebFrame | None:
        if self._scanner is None:
            self._codec, self._scanner = unit.codec, video_scanner(unit.codec)
        au = self._scanner.scan(unit.data)
        key = bool(unit.random_access or au.kind.is_key)
        data = unit.data
        if self._codec == "av1":
            data = av1.from_ts(bytes(data))
            if not data:                # no OBU survived: nothing a decoder could use
                self.damaged += 1
                return None
            if key and self.video_codec is None and self._scanner.sequence is not None:
                self.video_codec = self._scanner.sequence.codec_string()
        elif key and self.video_codec is None:
            self.video_codec = avc_codec_string(unit.data)
        if self.video_codec is None or unit.pts is None:
            return None                 # nothing a decoder could start from yet
        stamp = find_stamp(au.user_data)
        capture = stamp.capture_ns // 1000 if stamp is not None else 0
        frame = WebFrame(VIDEO, key, self.video_frames, self._video_pts.us(unit.pts), capture,
                         data, stamp.frame_index if stamp is not None else NO_INDEX,
                         reference=key or au.reference)
        self.video_frames += 1
        return frame

    def _aac(self, unit) -> list[WebFrame]:
        if unit.pts is None:
            return []
        base = self._audio_pts.us(unit.pts)
        out = []
        for k, (data, rate, channels, object_type) in enumerate(split_adts(unit.data)):
            if self.audio is None:
                self.audio = {"codec": f"mp4a.40.{object_type}", "sampleRate": rate,
                              "numberOfChannels": channels}
            out.append(WebFrame(AUDIO, True, self.audio_frames, base + k * 1024 * 1_000_000 // rate,
                                0, data))
            self.audio_frames += 1
        return out

    def _opus(self, unit) -> list[WebFrame]:
        if unit.pts is None:
            return []
        at = self._audio_pts.us(unit.pts)
        out = []
        for packet in opus.split_ts_opus(unit.data):
            if self.audio is None:
                self.audio = {"codec": "opus", "sampleRate": opus.RATE,
                              "numberOfChannels": opus.packet_channels(packet)}
            out.append(WebFrame(AUDIO, True, self.audio_frames, at, 0, packet))
            at += opus.packet_samples(packet) * 1_000_000 // opus.RATE
            self.audio_frames += 1
        return out

    def flush(self) -> list[WebFrame]:
        out: list[WebFrame] = []
        for unit in self.demuxer.flush():
            if unit.codec in WEB_VIDEO and self._video_pid in (None, unit.pid) and not unit.cc_error:
                frame = self._video(unit)
                if frame is not None:
                    out.append(frame)
        return out
