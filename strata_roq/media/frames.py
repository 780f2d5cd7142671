"""MediaFrame and the Framer: transport packets grouped by the access unit they carry.

Every later layer — schedulers, RoQ stream-per-frame, FEC, the WebTransport egress — works
on frames, not packets: an I-frame is worth more than a B-frame, and each frame has a
deadline after which it is worthless ("better never than late"). The Framer reads each
incoming datagram (raw UDP with 7×188-byte TS, or RTP carrying MP2T or H.264) once, cheaply,
and tells the caller at once which frame it belongs to, so packets can be forwarded without
waiting for their frame to end.

Rules for TS: a datagram belongs to the frame of its first elementary-stream TS packet (a
datagram holding the tail of frame N and the head of N+1 travels with N, the earlier
deadline); a frame completes when the next PES of its PID starts, or on :meth:`flush`.
PSI-only datagrams (PAT/PMT) are frames of their own, complete at once.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from strata_roq.media.av1 import Av1Scanner
from strata_roq.media.nal import AccessUnitInfo, FrameKind, NalScanner
from strata_roq.media.stamp import CaptureStamp, find_stamp
from strata_roq.media.ts import (PID_NULL, TS_PACKET_SIZE, TS_SYNC, PsiTables, TsCounters,
                                 parse_pes_header, parse_ts_header)
from strata_roq.errors import ParseError
from strata_roq.rtp.packet import payload_bounds

#: Scheduling priority by kind (higher = more important). A table, so policies can differ.
DEFAULT_PRIORITY: dict[FrameKind, int] = {
    FrameKind.IDR: 7, FrameKind.I: 6, FrameKind.AUDIO: 5, FrameKind.PSI: 5,
    FrameKind.P: 3, FrameKind.UNKNOWN: 3, FrameKind.B: 2, FrameKind.DATA: 2,
}
#: priority of a picture nothing else references (drop it first).
DISPOSABLE_PRIORITY = 1

#: How many payload bytes of a video frame's head are kept for classification.
HEAD_LIMIT = 8192

MP2T_PAYLOAD_TYPE = 33
#: video codecs whose frame headers we read (others: the random-access flag decides)
PARSED_VIDEO = ("h264", "hevc", "av1")


def video_scanner(codec: str):
    """The header scanner for a parsed video codec: NAL units, or AV1 OBUs."""
    return Av1Scanner() if codec == "av1" else NalScanner(codec)


@dataclass(slots=True, eq=False)
class MediaFrame:
    """The packets of one access unit (or audio frame, or PSI table) and what they are."""

    index: int                      # order of first appearance in this Framer
    kind: FrameKind
    stream: int                     # TS PID, or RTP SSRC
    codec: str
    first_time: float               # arrival of its first packet
    capture_time: float             # first arrival, or the capture time its stamp says
    deadline: float                 # capture_time + latency budget
    pts: int | None = None
    dts: int | None = None
    reference: bool = True          # False: no other picture depends on it
    random_access: bool = False     # TS adaptation-field random_access_indicator
    stamp: CaptureStamp | None = None
    gop: int = 0                    # count of key frames seen on this stream so far
    packets: list = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    size: int = 0
    last_time: float = 0.0
    complete: bool = False
    priority: int = 0
    head: bytearray | None = None   # elementary-stream head still being classified
    info: AccessUnitInfo | None = None

    @property
    def is_key(self) -> bool:
        return self.kind.is_key

    @property
    def starts_gop(self) -> bool:
        """A video key frame, or a picture whose head is not classified yet but whose TS
        packet says random access (audio sets that flag on every frame: only unclassified
        video counts)."""
        return self.kind.is_key or (self.random_access and self.kind is FrameKind.UNKNOWN)

    def add(self, packet, now: float) -> None:
        self.packets.append(packet)
        self.arrivals.append(now)
        self.size += len(packet)
        self.last_time = now


_HEADER_STRUCTS: dict[int, struct.Struct] = {}


def _headers_struct(count: int) -> struct.Struct:
    """One struct that unpacks (pid word, flags) of ``count`` back-to-back TS packets."""
    s = _HEADER_STRUCTS.get(count)
    if s is None:
        s = _HEADER_STRUCTS[count] = struct.Struct(">" + "xHB184x" * count)
    return s


def _importance(frame: MediaFrame) -> tuple[bool, int]:
    """Key frames first, then by priority."""
    return frame.starts_gop, frame.priority


class Framer:
    """Groups packets into :class:`MediaFrame` objects; sans-I/O (``push(packet, now)``).

    ``latency`` is the end-to-end budget in seconds each frame's deadline is derived from:
    from the frame's first arrival, or — once the driver sets :attr:`wall_offset` — from the
    capture time a picture carries in its stamp (:mod:`strata_roq.media.stamp`), so the
    time it spent in the encoder counts against the budget too: glass to glass, not arrival
    to glass. A stamp more than half the budget old (or from the future) is taken for
    another machine's unsynchronised clock, counted in :attr:`stamps_implausible`, and
    ignored.
    ``mode`` is ``"ts"`` (datagrams of whole TS packets) or ``"rtp"`` (RTP packets: payload
    type 33 is read as TS, anything else is grouped by RTP timestamp, and classified as
    H.264 (RFC 6184) when ``rtp_codec="h264"``).
    """

    def __init__(self, latency: float = 0.5, mode: str = "ts", rtp_codec: str | None = None,
                 priorities: dict[FrameKind, int] | None = None) -> None:
        if mode not in ("ts", "rtp"):
            raise ValueError(f"unknown framer mode {mode!r}")
        self.latency = latency
        self.mode = mode
        self.rtp_codec = rtp_codec
        self.priorities = dict(DEFAULT_PRIORITY if priorities is None else priorities)
        self.counters = TsCounters()
        self.psi = PsiTables(self.counters)
        self.rtp_errors = 0
        self.frames_started = 0
        #: Unix time minus the ``now`` clock (set by the driver; None: stamps not used).
        self.wall_offset: float | None = None
        self.stamps_used = 0
        self.stamps_implausible = 0
        self._open: dict[int, MediaFrame] = {}
        self._completed: list[MediaFrame] = []
        self._cc: dict[int, int] = {}
        self._scanners: dict = {}          # stream -> NalScanner or Av1Scanner
        self._gop: dict[int, int] = {}
        self._rtp_ts: dict[int, int] = {}

    # -- public API ---------------------------------------------------------------------
    def push(self, packet: bytes | memoryview, now: float) -> MediaFrame | None:
        """Assign ``packet`` to a frame and return that frame (possibly still open).

        Returns None for a malformed packet, which is counted and dropped.
        """
        if self.mode == "ts":
            return self._push_ts(packet, packet, now)
        return self._push_rtp(packet, now)

    def pop_completed(self) -> list[MediaFrame]:
        """Frames completed since the last call, in completion order."""
        done, self._completed = self._completed, []
        return done

    def flush(self) -> list[MediaFrame]:
        """Complete every open frame (end of stream) and return all completed frames."""
        for stream in list(self._open):
            self._complete(stream)
        return self.pop_completed()

    def open_frames(self) -> list[MediaFrame]:
        return list(self._open.values())

    # -- TS -------------------------------------------------------------------------------
    def _push_ts(self, data, packet, now: float) -> MediaFrame | None:
        n = len(data)
        count = n // TS_PACKET_SIZE
        c = self.counters
        if count == 0 or n % TS_PACKET_SIZE:
            c.truncated += 1
            return None
        if data[::TS_PACKET_SIZE] != b"G" * count:
            c.sync_errors += 1
            return None
        c.packets += count
        c.bytes += n
        fields = _headers_struct(count).unpack_from(data)
        target: MediaFrame | None = None
        others: list[MediaFrame] | None = None     # more frames this datagram carries part of
        psi_only = True
        open_frames = self._open
        cc_state = self._cc
        for i in range(count):
            pidw = fields[2 * i]
            flags = fields[2 * i + 1]
            pid = pidw & 0x1FFF
            if pidw & 0x8000:
                c.tei_errors += 1
                continue
            if pid == PID_NULL:
                c.null_packets += 1
                continue
            if flags & 0x10:  # has payload: check continuity
                cc = flags & 0x0F
                prev = cc_state.get(pid)
                cc_state[pid] = cc
                if prev is not None and cc != (prev + 1) & 0x0F and cc != prev:
                    if not (flags & 0x20 and data[i * 188 + 4] and data[i * 188 + 5] & 0x80):
                        c.cc_errors += 1
            if pid < 0x20 or pid in self.psi.pmt_pids:  # PAT, SI tables (SDT...), PMTs
                self._feed_psi(data, i * TS_PACKET_SIZE)
                continue
            psi_only = False
            if pidw & 0x4000:
                frame = self._start_ts_frame(data, i * TS_PACKET_SIZE, pid, now)
            else:
                frame = open_frames.get(pid)
                if frame is not None and frame.head is not None and flags & 0x10:
                    self._grow_head(frame, data, i * TS_PACKET_SIZE, flags)
            if frame is not None and frame is not target:
                if target is None:
                    target = frame
                elif others is None:
                    others = [frame]
                elif frame not in others:
                    others.append(frame)
        if others is not None:
            # A datagram shared by two frames (the tail of one, the head of the next) travels
            # with the more important: a key frame's head must not go down with the stream of
            # a picture that is dropped or reset (the IDR would arrive damaged, and with it
            # the whole GOP it starts).
            target = max([target, *others], key=_importance)
        if target is None:
            if not psi_only:
                # only packets of PIDs whose PES start we have not seen yet: data, not media
                target = self._new_frame(-1, FrameKind.DATA, "data", now)
                target.add(packet, now)
                self._complete_frame(target)
                return target
            target = self._new_frame(0, FrameKind.PSI, "psi", now)
            target.add(packet, now)
            self._complete_frame(target)
            return target
        target.add(packet, now)
        return target

    def _feed_psi(self, data, base: int) -> None:
        try:
            hdr = parse_ts_header(data, base)
        except ParseError:
            self.counters.adaptation_errors += 1
            return
        self.psi.feed(data, base, hdr)

    def _start_ts_frame(self, data, base: int, pid: int, now: float) -> MediaFrame | None:
        self._complete(pid)
        try:
            hdr = parse_ts_header(data, base)
        except ParseError:
            self.counters.adaptation_errors += 1
            return None
        info = self.psi.streams.get(pid)
        codec = info.codec if info else "data"
        if info is None:
            kind = FrameKind.DATA
        elif info.is_audio:
            kind = FrameKind.AUDIO
        elif info.is_video:
            kind = FrameKind.UNKNOWN
        else:
            kind = FrameKind.DATA
        frame = self._new_frame(pid, kind, codec, now)
        frame.random_access = hdr.random_access
        payload = bytes(data[base + hdr.payload_offset:base + TS_PACKET_SIZE])
        try:
            pes = parse_pes_header(payload)
        except ParseError:
            self.counters.pes_errors += 1
            pes = None
        if pes is not None:
            frame.pts, frame.dts = pes.pts, pes.dts
            if kind is FrameKind.UNKNOWN and codec in PARSED_VIDEO:
                frame.head = bytearray(payload[pes.header_length:])
                self._classify(frame)
        if frame.kind is FrameKind.UNKNOWN and codec not in PARSED_VIDEO:
            # a video codec whose headers we do not parse: trust the random-access flag
            frame.kind = FrameKind.I if hdr.random_access else FrameKind.UNKNOWN
            frame.priority = self.priorities.get(frame.kind, 0)
        self._open[pid] = frame
        return frame

    def _grow_head(self, frame: MediaFrame, data, base: int, flags: int) -> None:
        offset = 4
        if flags & 0x20:
            offset = 5 + data[base + 4]
        frame.head += data[base + offset:base + TS_PACKET_SIZE]
        self._classify(frame)

    # -- RTP ------------------------------------------------------------------------------
    def _push_rtp(self, data, now: float) -> MediaFrame | None:
        try:
            start, end = payload_bounds(data)
        except ParseError:
            self.rtp_errors += 1
            return None
        pt = data[1] & 0x7F
        if pt == MP2T_PAYLOAD_TYPE:
            if (end - start) == 0:
                self.rtp_errors += 1
                return None
            return self._push_ts(memoryview(data)[start:end], data, now)
        ssrc = int.from_bytes(data[8:12], "big")
        timestamp = int.from_bytes(data[4:8], "big")
        frame = self._open.get(ssrc)
        if frame is None or self._rtp_ts.get(ssrc) != timestamp:
            self._complete(ssrc)
            frame = self._new_frame(ssrc, FrameKind.UNKNOWN if self.rtp_codec else FrameKind.DATA,
                                    self.rtp_codec or "data", now)
            frame.pts = timestamp
            self._rtp_ts[ssrc] = timestamp
            self._open[ssrc] = frame
            if self.rtp_codec == "h264":
                frame.head = bytearray()
        if frame.head is not None and self.rtp_codec == "h264":
            self._rtp_h264_head(frame, bytes(data[start:end]))
        frame.add(data, now)
        if data[1] & 0x80:  # marker: last packet of the access unit
            self._complete(ssrc)
        return frame

    def _rtp_h264_head(self, frame: MediaFrame, payload: bytes) -> None:
        """Rebuild an Annex-B head from RFC 6184 single/STAP-A/FU-A payloads."""
        if not payload:
            return
        nal_type = payload[0] & 0x1F
        if nal_type <= 23:
            frame.head += b"\x00\x00\x01" + payload
        elif nal_type == 24:  # STAP-A
            i = 1
            while i + 2 <= len(payload):
                size = (payload[i] << 8) | payload[i + 1]
                frame.head += b"\x00\x00\x01" + payload[i + 2:i + 2 + size]
                i += 2 + size
        elif nal_type == 28 and len(payload) >= 2:  # FU-A
            if payload[1] & 0x80:
                frame.head += b"\x00\x00\x01" + bytes([(payload[0] & 0xE0) | (payload[1] & 0x1F)])
            frame.head += payload[2:]
        self._classify(frame)

    # -- shared ---------------------------------------------------------------------------
    def _new_frame(self, stream: int, kind: FrameKind, codec: str, now: float) -> MediaFrame:
        frame = MediaFrame(self.frames_started, kind, stream, codec, now, now,
                           now + self.latency, gop=self._gop.get(stream, 0))
        frame.last_time = now
        frame.priority = self.priorities.get(kind, 0)
        self.frames_started += 1
        return frame

    def _classify(self, frame: MediaFrame, final: bool = False) -> None:
        """Scan the frame's head; settle its kind once a slice header (or the end) is seen."""
        scanner = self._scanners.get(frame.stream)
        if scanner is None:
            scanner = self._scanners[frame.stream] = video_scanner(
                frame.codec if frame.codec in PARSED_VIDEO else "h264")
        head = frame.head
        info = scanner.scan(bytes(head))
        frame.info = info
        if not (info.complete or final or len(head) >= HEAD_LIMIT):
            return
        frame.head = None
        frame.kind = info.kind if info.complete else (
            FrameKind.I if frame.random_access else FrameKind.UNKNOWN)
        frame.reference = info.reference
        frame.stamp = stamp = find_stamp(info.user_data)
        if stamp is not None and self.wall_offset is not None:
            waited = frame.first_time + self.wall_offset - stamp.capture_time
            if 0.0 <= waited < self.latency / 2:
                frame.capture_time = frame.first_time - waited
                frame.deadline = frame.capture_time + self.latency
                self.stamps_used += 1
            else:
                self.stamps_implausible += 1
        if frame.kind.is_key:
            self._gop[frame.stream] = self._gop.get(frame.stream, 0) + 1
            frame.gop = self._gop[frame.stream]
        prio = self.priorities.get(frame.kind, 0)
        frame.priority = prio if frame.reference else min(prio, DISPOSABLE_PRIORITY)

    def _complete(self, stream: int) -> None:
        frame = self._open.pop(stream, None)
        if frame is not None:
            if frame.head is not None:  # ended before its slice header: settle what we have
                self._classify(frame, final=True)
            self._complete_frame(frame)

    def _complete_frame(self, frame: MediaFrame) -> None:
        frame.complete = True
        self._completed.append(frame)
