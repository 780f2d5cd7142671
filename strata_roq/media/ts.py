"""MPEG-2 transport stream (ISO/IEC 13818-1): packets, PSI tables, PES reassembly.

The gateway is media-aware: it must know which datagrams carry which picture. This module
reads 188-byte TS packets (header, adaptation field with PCR and random-access indicator,
continuity counters), the PAT and PMT (with their CRC-32) to learn which PID carries which
codec, and reassembles PES packets with PTS/DTS. It is sans-I/O: ``feed(data, now)``.
Broken input is counted in :class:`TsCounters` and skipped, never raised.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from strata_roq.errors import ParseError

TS_PACKET_SIZE = 188
TS_SYNC = 0x47
PID_PAT = 0x0000
PID_NULL = 0x1FFF

#: stream_type → codec name (ISO/IEC 13818-1 Table 2-34 plus the common registrations).
STREAM_TYPES = {
    0x01: "mpeg1video", 0x02: "mpeg2video", 0x03: "mp2", 0x04: "mp2", 0x0F: "aac",
    0x11: "aac_latm", 0x15: "metadata", 0x1B: "h264", 0x24: "hevc", 0x81: "ac3", 0x87: "eac3",
    0x86: "scte35",
}
VIDEO_CODECS = {"h264", "hevc", "av1", "mpeg1video", "mpeg2video"}
AUDIO_CODECS = {"aac", "aac_latm", "mp2", "ac3", "eac3", "opus"}
#: registration descriptor format_identifier → codec, for stream_type 0x06 (private PES).
REGISTRATIONS = {b"Opus": "opus", b"AV01": "av1", b"AC-3": "ac3", b"EAC3": "eac3",
                 b"KLVA": "metadata", b"ID3 ": "metadata"}

_HDR = struct.Struct(">BHB")


def _crc32_mpeg_table() -> list[int]:
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) if c & 0x80000000 else (c << 1)
        table.append(c & 0xFFFFFFFF)
    return table


_CRC_TABLE = _crc32_mpeg_table()


def crc32_mpeg(data: bytes) -> int:
    """CRC-32/MPEG-2 as PSI sections use it (a section including its CRC yields 0)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[((crc >> 24) ^ b) & 0xFF]
    return crc


def decode_timestamp(b: bytes | memoryview, offset: int) -> int:
    """A 33-bit PTS/DTS from its 5-byte PES encoding."""
    return (((b[offset] >> 1) & 0x07) << 30 | b[offset + 1] << 22 | (b[offset + 2] >> 1) << 15
            | b[offset + 3] << 7 | b[offset + 4] >> 1)


def encode_timestamp(value: int, prefix: int) -> bytes:
    """The 5-byte PES encoding of a 33-bit timestamp (``prefix`` 2 = PTS only, 3/1 = PTS/DTS)."""
    value &= (1 << 33) - 1
    return bytes([(prefix << 4) | ((value >> 29) & 0x0E) | 1, (value >> 22) & 0xFF,
                  ((value >> 14) & 0xFE) | 1, (value >> 7) & 0xFF, ((value << 1) & 0xFE) | 1])


@dataclass(slots=True)
class TsHeader:
    pid: int
    pusi: bool
    tei: bool
    cc: int
    has_payload: bool
    payload_offset: int         # where the payload starts within the 188 bytes
    random_access: bool
    discontinuity: bool
    pcr: int | None             # 27 MHz


def parse_ts_header(pkt: bytes | memoryview, base: int = 0) -> TsHeader:
    """Parse the header and adaptation field of the packet at ``pkt[base:base+188]``."""
    if len(pkt) - base < TS_PACKET_SIZE:
        raise ParseError("TS packet shorter than 188 bytes")
    sync, pidw, flags = _HDR.unpack_from(pkt, base)
    if sync != TS_SYNC:
        raise ParseError(f"TS sync byte is 0x{sync:02x}, not 0x47")
    afc = (flags >> 4) & 3
    offset = 4
    random_access = discontinuity = False
    pcr = None
    if afc & 2:
        af_len = pkt[base + 4]
        if af_len > 183 or (afc == 3 and af_len > 182):
            raise ParseError(f"adaptation field length {af_len} runs past the packet")
        if af_len:
            af_flags = pkt[base + 5]
            discontinuity = bool(af_flags & 0x80)
            random_access = bool(af_flags & 0x40)
            if af_flags & 0x10 and af_len >= 7:
                b = pkt[base + 6:base + 12]
                base_pcr = (b[0] << 25) | (b[1] << 17) | (b[2] << 9) | (b[3] << 1) | (b[4] >> 7)
                pcr = base_pcr * 300 + (((b[4] & 1) << 8) | b[5])
        offset = 5 + af_len
    return TsHeader(pidw & 0x1FFF, bool(pidw & 0x4000), bool(pidw & 0x8000), flags & 0x0F,
                    bool(afc & 1), offset, random_access, discontinuity, pcr)


@dataclass(slots=True)
class StreamInfo:
    """One elementary stream as the PMT announces it."""

    pid: int
    stream_type: int
    codec: str
    program: int = 0

    @property
    def is_video(self) -> bool:
        return self.codec in VIDEO_CODECS

    @property
    def is_audio(self) -> bool:
        return self.codec in AUDIO_CODECS


@dataclass
class TsCounters:
    """What went wrong, by kind; nothing is dropped without being counted here."""

    packets: int = 0
    bytes: int = 0
    sync_errors: int = 0
    truncated: int = 0
    tei_errors: int = 0
    cc_errors: int = 0
    adaptation_errors: int = 0
    psi_errors: int = 0
    pes_errors: int = 0
    null_packets: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class PsiTables:
    """PAT/PMT state: which PIDs are PMTs and which carry which elementary stream."""

    def __init__(self, counters: TsCounters) -> None:
        self.counters = counters
        self.pmt_pids: dict[int, int] = {}        # PMT pid → program number
        self.streams: dict[int, StreamInfo] = {}  # ES pid → info
        self.pcr_pids: set[int] = set()
        self.version = 0                          # bumps on every change, for listeners
        self._sections: dict[int, bytearray] = {}

    def is_psi(self, pid: int) -> bool:
        return pid == PID_PAT or pid in self.pmt_pids

    def feed(self, pkt: bytes | memoryview, base: int, hdr: TsHeader) -> None:
        """Feed one packet of a PSI PID."""
        payload = bytes(pkt[base + hdr.payload_offset:base + TS_PACKET_SIZE])
        if not payload:
            return
        if hdr.pusi:
            pointer = payload[0]
            if 1 + pointer > len(payload):
                self.counters.psi_errors += 1
                return
            tail = self._sections.get(hdr.pid)
            if tail is not None and pointer:
                tail += payload[1:1 + pointer]
                self._try_section(hdr.pid)
            self._sections[hdr.pid] = bytearray(payload[1 + pointer:])
        elif hdr.pid in self._sections:
            self._sections[hdr.pid] += payload
        else:
            return
        self._try_section(hdr.pid)

    def _try_section(self, pid: int) -> None:
        buf = self._sections.get(pid)
        while buf and len(buf) >= 3 and buf[0] != 0xFF:
            length = ((buf[1] & 0x0F) << 8) | buf[2]
            if len(buf) < 3 + length:
                return
            section = bytes(buf[:3 + length])
            del buf[:3 + length]
            if length < 9 or crc32_mpeg(section) != 0:
                self.counters.psi_errors += 1
                continue
            if section[0] == 0x00 and pid == PID_PAT:
                self._parse_pat(section)
            elif section[0] == 0x02 and pid in self.pmt_pids:
                self._parse_pmt(section)
        if buf is not None and (not buf or buf[0] == 0xFF):
            self._sections.pop(pid, None)

    def _parse_pat(self, section: bytes) -> None:
        pmts = {}
        for i in range(8, len(section) - 4, 4):
            program = (section[i] << 8) | section[i + 1]
            pid = ((section[i + 2] & 0x1F) << 8) | section[i + 3]
            if program != 0:
                pmts[pid] = program
        if pmts != self.pmt_pids:
            self.pmt_pids = pmts
            self.version += 1

    def _parse_pmt(self, section: bytes) -> None:
        program = (section[3] << 8) | section[4]
        pcr_pid = ((section[8] & 0x1F) << 8) | section[9]
        info_len = ((section[10] & 0x0F) << 8) | section[11]
        i = 12 + info_len
        end = len(section) - 4
        streams = {}
        while i + 5 <= end:
            stream_type = section[i]
            pid = ((section[i + 1] & 0x1F) << 8) | section[i + 2]
            es_len = ((section[i + 3] & 0x0F) << 8) | section[i + 4]
            descriptors = section[i + 5:i + 5 + es_len]
            codec = STREAM_TYPES.get(stream_type, "data")
            if stream_type == 0x06:
                codec = self._private_codec(descriptors)
            streams[pid] = StreamInfo(pid, stream_type, codec, program)
            i += 5 + es_len
        self.pcr_pids.add(pcr_pid)
        old = {p: s for p, s in self.streams.items() if s.program == program}
        if old != streams:
            for pid in old:
                self.streams.pop(pid, None)
            self.streams.update(streams)
            self.version += 1

    @staticmethod
    def _private_codec(descriptors: bytes) -> str:
        j = 0
        while j + 2 <= len(descriptors):
            tag, length = descriptors[j], descriptors[j + 1]
            body = descriptors[j + 2:j + 2 + length]
            if tag == 0x05 and len(body) >= 4 and body[:4] in REGISTRATIONS:
                return REGISTRATIONS[body[:4]]
            if tag == 0x6A:
                return "ac3"
            if tag == 0x7A:
                return "eac3"
            j += 2 + length
        return "data"


@dataclass(slots=True)
class PesHeader:
    stream_id: int
    packet_length: int          # 0 = unbounded (video)
    pts: int | None
    dts: int | None
    header_length: int          # bytes before the elementary-stream payload


def parse_pes_header(data: bytes | memoryview) -> PesHeader:
    """Parse the PES header at the start of ``data`` (ISO/IEC 13818-1 §2.4.3.6)."""
    if len(data) < 6 or data[0] != 0 or data[1] != 0 or data[2] != 1:
        raise ParseError("PES does not start with 00 00 01")
    stream_id = data[3]
    length = (data[4] << 8) | data[5]
    if stream_id in (0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF):
        return PesHeader(stream_id, length, None, None, 6)
    if len(data) < 9 or data[6] & 0xC0 != 0x80:
        raise ParseError("PES optional header missing or malformed")
    flags = data[7] >> 6
    header_length = 9 + data[8]
    if len(data) < header_length:
        raise ParseError("PES header runs past the data")
    pts = dts = None
    if flags & 2:
        if data[8] < 5:
            raise ParseError("PES header too short for its PTS")
        pts = decode_timestamp(data, 9)
        dts = pts
        if flags == 3:
            if data[8] < 10:
                raise ParseError("PES header too short for its DTS")
            dts = decode_timestamp(data, 14)
    elif flags == 1:
        raise ParseError("PES PTS_DTS_flags = 01 is forbidden")
    return PesHeader(stream_id, length, pts, dts, header_length)


@dataclass
class PesUnit:
    """One reassembled PES packet: usually one access unit (video) or audio frame(s)."""

    pid: int
    codec: str
    stream_id: int
    pts: int | None
    dts: int | None
    data: bytes                 # the elementary-stream payload (PES header removed)
    random_access: bool
    first_time: float           # arrival of its first TS packet
    last_time: float            # arrival of its last TS packet before any continuity gap
    cc_error: bool = False      # a continuity-counter gap fell inside it (data is damaged)


class _PesBuffer:
    __slots__ = ("chunks", "size", "target", "first_time", "last_time", "random_access",
                 "cc_error")

    def __init__(self, now: float, random_access: bool) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.target = 0  # full PES size when the header declares it, else 0
        self.first_time = now
        self.last_time = now
        self.random_access = random_access
        self.cc_error = False


class TsDemuxer:
    """Reassembles PES packets of every elementary stream the PMT announces.

    A PES is emitted when its declared length is reached or the next PES on the same PID
    starts (video PES usually have length 0), or on :meth:`flush`.
    """

    def __init__(self) -> None:
        self.counters = TsCounters()
        self.psi = PsiTables(self.counters)
        self._cc: dict[int, int] = {}
        self._pes: dict[int, _PesBuffer] = {}
        self.last_pcr: dict[int, int] = {}

    @property
    def streams(self) -> dict[int, StreamInfo]:
        return self.psi.streams

    def feed(self, data: bytes | memoryview, now: float) -> list[PesUnit]:
        """Feed whole TS packets (e.g. one 7×188 datagram); return completed PES units."""
        out: list[PesUnit] = []
        n = len(data)
        c = self.counters
        c.bytes += n
        if n % TS_PACKET_SIZE:
            c.truncated += 1
        for base in range(0, n - TS_PACKET_SIZE + 1, TS_PACKET_SIZE):
            c.packets += 1
            try:
                hdr = parse_ts_header(data, base)
            except ParseError:
                if data[base] != TS_SYNC:
                    c.sync_errors += 1
                else:
                    c.adaptation_errors += 1
                continue
            if hdr.tei:
                c.tei_errors += 1
                continue
            pid = hdr.pid
            if pid == PID_NULL:
                c.null_packets += 1
                continue
            if hdr.pcr is not None:
                self.last_pcr[pid] = hdr.pcr
            gap = self._check_cc(hdr)
            if self.psi.is_psi(pid):
                self.psi.feed(data, base, hdr)
                continue
            if pid not in self.psi.streams or not hdr.has_payload:
                continue
            self._feed_pes(data, base, hdr, now, gap, out)
        return out

    def _check_cc(self, hdr: TsHeader) -> bool:
        """Track the continuity counter; True when packets were lost before this one."""
        if not hdr.has_payload:
            return False
        prev = self._cc.get(hdr.pid)
        self._cc[hdr.pid] = hdr.cc
        if prev is None or hdr.discontinuity or hdr.cc == (prev + 1) & 0x0F:
            return False
        if hdr.cc == prev:  # a permitted duplicate
            return False
        self.counters.cc_errors += 1
        return True

    def _feed_pes(self, data, base: int, hdr: TsHeader, now: float, gap: bool,
                  out: list[PesUnit]) -> None:
        pid = hdr.pid
        payload = bytes(data[base + hdr.payload_offset:base + TS_PACKET_SIZE])
        buf = self._pes.get(pid)
        if hdr.pusi:
            if buf is not None:
                if gap:  # packets lost just before this start: the previous PES lost its tail
                    buf.cc_error = True
                self._emit(pid, out)
            buf = self._pes[pid] = _PesBuffer(now, hdr.random_access)
        elif buf is None:
            return  # joined mid-PES: wait for the next start
        elif gap:
            buf.cc_error = True
        if not buf.cc_error:
            # After a gap the PES has lost part of itself, and what follows may be another one's
            # tail (a later frame whose start was dropped): that must not date this unit.
            buf.last_time = now
        buf.chunks.append(payload)
        buf.size += len(payload)
        if hdr.pusi and len(payload) >= 6:
            length = (payload[4] << 8) | payload[5]
            buf.target = length + 6 if length else 0
        if buf.target and buf.size >= buf.target:
            self._emit(pid, out)

    def _emit(self, pid: int, out: list[PesUnit]) -> None:
        buf = self._pes.pop(pid)
        raw = b"".join(buf.chunks)
        try:
            hdr = parse_pes_header(raw)
        except ParseError:
            self.counters.pes_errors += 1
            return
        end = hdr.packet_length + 6 if hdr.packet_length else len(raw)
        if end > len(raw):
            buf.cc_error = True
            end = len(raw)
        info = self.psi.streams.get(pid)
        out.append(PesUnit(pid, info.codec if info else "data", hdr.stream_id, hdr.pts, hdr.dts,
                           raw[hdr.header_length:end], buf.random_access, buf.first_time,
                           buf.last_time, buf.cc_error))

    def flush(self) -> list[PesUnit]:
        """Emit every PES still being assembled (end of stream)."""
        out: list[PesUnit] = []
        for pid in list(self._pes):
            self._emit(pid, out)
        return out


def add_es_descriptors(packet: bytes, pid: int, descriptors: bytes) -> bytes:
    """A PMT TS packet (whole section in this one packet) with ``descriptors`` put first in
    the ES-info loop of elementary stream ``pid``: section length and CRC recomputed.
    Anything else (another table, a section that spans packets, no such stream, already
    there) comes back unchanged. Our test source uses it to register what FFmpeg's muxer
    does not (AV1's 'AV01' registration and video descriptor)."""
    if len(packet) != TS_PACKET_SIZE or not packet[1] & 0x40:
        return packet
    offset = 4 + (1 + packet[4] if packet[3] & 0x20 else 0)
    start = offset + 1 + packet[offset]                 # after the pointer field
    if start + 12 > TS_PACKET_SIZE or packet[start] != 0x02:
        return packet
    length = ((packet[start + 1] & 0x0F) << 8) | packet[start + 2]
    end = start + 3 + length
    if end > TS_PACKET_SIZE or end + len(descriptors) > TS_PACKET_SIZE:
        return packet
    section = bytearray(packet[start:end - 4])          # without the CRC
    i = 12 + (((section[10] & 0x0F) << 8) | section[11])
    while i + 5 <= len(section):
        es_pid = ((section[i + 1] & 0x1F) << 8) | section[i + 2]
        es_len = ((section[i + 3] & 0x0F) << 8) | section[i + 4]
        if es_pid == pid:
            if section[i + 5:i + 5 + len(descriptors)] == descriptors:
                return packet
            es_len += len(descriptors)
            section[i + 3:i + 5] = bytes([0xF0 | es_len >> 8, es_len & 0xFF])
            section[i + 5:i + 5] = descriptors
            length += len(descriptors)
            section[1:3] = bytes([(section[1] & 0xF0) | length >> 8, length & 0xFF])
            section += crc32_mpeg(bytes(section)).to_bytes(4, "big")
            out = packet[:start] + bytes(section)
            return out + b"\xff" * (TS_PACKET_SIZE - len(out))
        i += 5 + es_len
    return packet
