"""Dropping whole pictures from MPEG-TS so that what is left still decodes.

When the path carries less than the media, the layers nothing depends on go first: H.264
pictures with ``nal_ref_idc == 0``, HEVC sub-layer non-reference pictures (the
disposable B-frames of a typical encoder) and AV1 frames stored in no reference slot
(``refresh_frame_flags == 0``: the top temporal layer of a low-delay hierarchy). The decoder then gets a valid stream at a lower
frame rate instead of a broken one at the full rate. When a *reference* picture is lost
anyway (its frame was cancelled at its deadline), every picture up to the next key frame
depends on it: :meth:`TsThinner.reference_lost` drops them too (4D-MAP's "decompensate"),
so the picture freezes cleanly until the key frame instead of smearing.

Sans-I/O, datagram in, datagram out. Only the TS packets of a dropped picture's PES leave;
audio, tables and the next picture's head in the same datagram stay. The continuity
counters of the video PID are renumbered, so a receiver sees no gap (ISO/IEC 13818-1
§2.4.3.3), and a dropped packet that carried a PCR is replaced by an adaptation-field-only
packet with the same PCR, so the clock reference keeps its rhythm.
"""

from __future__ import annotations

from dataclasses import dataclass

from strata_roq.errors import ParseError
from strata_roq.media.frames import PARSED_VIDEO, video_scanner
from strata_roq.media.ts import (PID_PAT, TS_PACKET_SIZE, TS_SYNC, PsiTables, TsCounters,
                                 parse_pes_header, parse_ts_header)

THINNABLE_CODECS = PARSED_VIDEO


@dataclass
class ThinnerStats:
    pictures: int = 0              # video PES starts seen
    dropped_disposable: int = 0    # non-reference pictures removed
    dropped_gop_tail: int = 0      # pictures removed because a reference before them was lost
    unclassified: int = 0          # picture heads too short to classify: kept
    references_lost: int = 0       # reference_lost() calls
    pcr_kept: int = 0              # PCR-only packets written in place of removed ones
    packets_removed: int = 0
    not_ts: int = 0                # datagrams that are not whole TS packets: passed unchanged

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class TsThinner:
    """Removes disposable pictures (while :attr:`drop_disposable` is set) and, after
    :meth:`reference_lost`, the rest of a GOP, from a stream of TS datagrams."""

    def __init__(self) -> None:
        self.drop_disposable = False
        self.stats = ThinnerStats()
        self.counters = TsCounters()
        self.psi = PsiTables(self.counters)
        self._scanners: dict = {}                 # video pid -> NalScanner / Av1Scanner
        self._psi_version = -1
        self._dropping: dict[int, bool] = {}      # video pid -> its current PES is removed
        self._removed: dict[int, int] = {}        # video pid -> payload packets removed (CC shift)
        self._last_cc: dict[int, int] = {}        # video pid -> last CC written
        self._broken: set[int] = set()            # pids waiting for a key frame

    def reference_lost(self) -> None:
        """A reference picture did not get through: drop every picture until the next key
        frame (on every video PID: the caller rarely knows which one it was)."""
        self.stats.references_lost += 1
        self._broken.update(self._scanners)

    def filter(self, data: bytes) -> bytes:
        """The datagram without the removed pictures' packets (``b""`` if none is left)."""
        n = len(data)
        if not n or n % TS_PACKET_SIZE:
            self.stats.not_ts += 1
            return data
        if self.psi.version != self._psi_version:
            self._refresh_streams()
        scanners = self._scanners
        parts: list[bytes] | None = None        # built only once something changes
        for base in range(0, n, TS_PACKET_SIZE):
            if data[base] != TS_SYNC:
                self.stats.not_ts += 1
                return data if parts is None else b"".join(parts) + data[base:]
            pid = ((data[base + 1] & 0x1F) << 8) | data[base + 2]
            if pid not in scanners:
                if pid == PID_PAT or pid in self.psi.pmt_pids:
                    self._feed_psi(data, base)
                    if self.psi.version != self._psi_version:
                        self._refresh_streams()
                        scanners = self._scanners
                if parts is not None:
                    parts.append(data[base:base + TS_PACKET_SIZE])
                continue
            packet = self._video_packet(data, base, pid)
            if packet is _UNCHANGED:
                if parts is not None:
                    parts.append(data[base:base + TS_PACKET_SIZE])
                continue
            if parts is None:
                parts = [data[:base]]
            if packet is not None:
                parts.append(packet)
        if parts is None:
            return data
        return b"".join(parts)

    # -- internals -------------------------------------------------------------------------
    def _refresh_streams(self) -> None:
        self._psi_version = self.psi.version
        scanners = {}
        for pid, info in self.psi.streams.items():
            if info.codec in THINNABLE_CODECS:
                old = self._scanners.get(pid)
                scanners[pid] = old if old is not None and old.codec == info.codec \
                    else video_scanner(info.codec)
        self._scanners = scanners

    def _feed_psi(self, data: bytes, base: int) -> None:
        try:
            self.psi.feed(data, base, parse_ts_header(data, base))
        except ParseError:
            self.counters.adaptation_errors += 1

    def _video_packet(self, data: bytes, base: int, pid: int):
        """This packet as it leaves: ``_UNCHANGED``, rewritten bytes, or None (removed)."""
        flags = data[base + 3]
        has_payload = flags & 0x10
        if has_payload and data[base + 1] & 0x40:            # a new PES: a new picture
            self._dropping[pid] = self._decide(data, base, pid)
        if self._dropping.get(pid):
            self.stats.packets_removed += 1
            if has_payload:
                self._removed[pid] = self._removed.get(pid, 0) + 1
            return self._pcr_only(data, base, pid)
        shift = self._removed.get(pid, 0) & 0x0F
        if not has_payload:
            return _UNCHANGED
        cc = ((flags & 0x0F) - shift) & 0x0F
        self._last_cc[pid] = cc
        if not shift:
            return _UNCHANGED
        packet = bytearray(data[base:base + TS_PACKET_SIZE])
        packet[3] = (flags & 0xF0) | cc
        return bytes(packet)

    def _decide(self, data: bytes, base: int, pid: int) -> bool:
        """Whether the picture starting in this packet is removed."""
        stats = self.stats
        stats.pictures += 1
        try:
            hdr = parse_ts_header(data, base)
            payload = data[base + hdr.payload_offset:base + TS_PACKET_SIZE]
            pes = parse_pes_header(payload)
            info = self._scanners[pid].scan(bytes(payload[pes.header_length:]))
        except ParseError:
            stats.unclassified += 1
            return pid in self._broken
        # A key frame's head may not fit one packet (parameter sets, a long SEI): the
        # muxer's random-access flag says it anyway.
        if info.kind.is_key or hdr.random_access:
            self._broken.discard(pid)
            return False
        if pid in self._broken:
            stats.dropped_gop_tail += 1
            return True
        if not info.complete:
            stats.unclassified += 1
            return False
        if self.drop_disposable and not info.reference:
            stats.dropped_disposable += 1
            return True
        return False

    def _pcr_only(self, data: bytes, base: int, pid: int) -> bytes | None:
        """An adaptation-field-only packet keeping a removed packet's PCR, else None."""
        flags = data[base + 3]
        if not flags & 0x20 or data[base + 4] < 7 or not data[base + 5] & 0x10:
            return None
        self.stats.pcr_kept += 1
        cc = self._last_cc.get(pid, ((flags & 0x0F) - 1) & 0x0F)  # AF-only: CC not counted
        head = bytes((TS_SYNC, data[base + 1] & 0x1F, data[base + 2], 0x20 | cc,
                      183, 0x10)) + data[base + 6:base + 12]
        return head + b"\xff" * (TS_PACKET_SIZE - len(head))


_UNCHANGED = object()
