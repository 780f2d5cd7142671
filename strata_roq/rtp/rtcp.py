"""RTCP compound packets (RFC 3550 §6) and the feedback Strata speaks.

SR/RR/SDES/BYE/APP (RFC 3550), generic NACK and PLI (RFC 4585), TMMBR/TMMBN (RFC 5104),
XR RRTR/DLRR (RFC 3611), congestion-control feedback CCFB (RFC 8888), and librist's APP
layouts — range NACK, echo request/response (see ``shared/notes/rist.md``). Each packet is a
dataclass with ``build()``; :func:`parse_rtcp_compound` returns a list of them and raises
only :class:`~strata_roq.errors.ParseError`. Unknown packet types are kept as
:class:`UnknownRtcp`, not rejected: a compound from a newer peer must still be usable.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from strata_roq.errors import ParseError

PT_SR, PT_RR, PT_SDES, PT_BYE, PT_APP, PT_RTPFB, PT_PSFB, PT_XR = range(200, 208)
FMT_NACK, FMT_TMMBR, FMT_TMMBN, FMT_CCFB = 1, 3, 4, 11
FMT_PLI = 1
SDES_CNAME = 1
RIST_NAME = b"RIST"
RIST_RANGE_NACK, RIST_SEQ_EXT, RIST_ECHO_REQUEST, RIST_ECHO_RESPONSE = 0, 1, 2, 3

_I = struct.Struct(">I")
_II = struct.Struct(">II")
_BLOCK = struct.Struct(">IIIIII")


def _header(count: int, pt: int, body_len: int) -> bytes:
    if body_len % 4:
        raise ValueError("RTCP body must be a multiple of 4 bytes")
    return struct.pack(">BBH", 0x80 | (count & 0x1F), pt, body_len // 4)


# -- report blocks, SR, RR -------------------------------------------------------------------
@dataclass(slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int = 0          # 0..255 (loss fraction × 256)
    cumulative_lost: int = 0        # signed 24-bit
    highest_seq: int = 0            # extended highest sequence number received
    jitter: int = 0                 # in RTP timestamp units
    lsr: int = 0                    # middle 32 bits of the last SR's NTP time
    dlsr: int = 0                   # delay since that SR, 1/65536 s

    def build(self) -> bytes:
        lost = self.cumulative_lost & 0xFFFFFF
        return _BLOCK.pack(self.ssrc, (self.fraction_lost & 0xFF) << 24 | lost, self.highest_seq,
                           self.jitter, self.lsr, self.dlsr)

    @classmethod
    def parse(cls, body, offset: int) -> "ReportBlock":
        ssrc, word, ext, jitter, lsr, dlsr = _BLOCK.unpack_from(body, offset)
        lost = word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 1 << 24
        return cls(ssrc, word >> 24, lost, ext, jitter, lsr, dlsr)


def _blocks(body, offset: int, count: int) -> list[ReportBlock]:
    return [ReportBlock.parse(body, offset + 24 * i) for i in range(count)]


@dataclass(slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int              # 64-bit NTP
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""

    def build(self) -> bytes:
        body = (_I.pack(self.ssrc) + struct.pack(">QIII", self.ntp_timestamp, self.rtp_timestamp,
                                                self.packet_count, self.octet_count)
                + b"".join(r.build() for r in self.reports) + self.extension)
        return _header(len(self.reports), PT_SR, len(body)) + body

    @classmethod
    def parse(cls, count: int, body) -> "SenderReport":
        if len(body) < 24 + 24 * count:
            raise ParseError(f"SR with {count} report blocks needs {24 + 24 * count} bytes")
        ssrc, = _I.unpack_from(body)
        ntp, rtp_ts, packets, octets = struct.unpack_from(">QIII", body, 4)
        return cls(ssrc, ntp, rtp_ts, packets, octets, _blocks(body, 24, count),
                   bytes(body[24 + 24 * count:]))


@dataclass(slots=True)
class ReceiverReport:
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""

    def build(self) -> bytes:
        body = _I.pack(self.ssrc) + b"".join(r.build() for r in self.reports) + self.extension
        return _header(len(self.reports), PT_RR, len(body)) + body

    @classmethod
    def parse(cls, count: int, body) -> "ReceiverReport":
        if len(body) < 4 + 24 * count:
            raise ParseError(f"RR with {count} report blocks needs {4 + 24 * count} bytes")
        return cls(_I.unpack_from(body)[0], _blocks(body, 4, count), bytes(body[4 + 24 * count:]))


# -- SDES, BYE -------------------------------------------------------------------------------
@dataclass(slots=True)
class SdesChunk:
    ssrc: int
    items: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def cname(self) -> str | None:
        for kind, value in self.items:
            if kind == SDES_CNAME:
                return value.decode("utf-8", "replace")
        return None


@dataclass(slots=True)
class Sdes:
    chunks: list[SdesChunk] = field(default_factory=list)

    @classmethod
    def cname(cls, ssrc: int, name: str) -> "Sdes":
        return cls([SdesChunk(ssrc, [(SDES_CNAME, name.encode())])])

    def build(self) -> bytes:
        body = bytearray()
        for chunk in self.chunks:
            start = len(body)
            body += _I.pack(chunk.ssrc)
            for kind, value in chunk.items:
                if len(value) > 255:
                    raise ValueError("SDES item longer than 255 bytes")
                body += bytes([kind, len(value)]) + value
            body += b"\x00"                              # end of items
            body += bytes(-(len(body) - start) % 4)      # pad the chunk to 32 bits
        return _header(len(self.chunks), PT_SDES, len(body)) + bytes(body)

    @classmethod
    def parse(cls, count: int, body) -> "Sdes":
        chunks, i, n = [], 0, len(body)
        for _ in range(count):
            if i + 4 > n:
                raise ParseError("SDES chunk runs past the packet")
            chunk = SdesChunk(_I.unpack_from(body, i)[0])
            start = i
            i += 4
            while True:
                if i >= n:
                    raise ParseError("SDES items run past the packet")
                kind = body[i]
                if kind == 0:
                    i += 1
                    break
                if i + 2 > n or i + 2 + body[i + 1] > n:
                    raise ParseError("SDES item runs past the packet")
                chunk.items.append((kind, bytes(body[i + 2:i + 2 + body[i + 1]])))
                i += 2 + body[i + 1]
            i += -(i - start) % 4
            chunks.append(chunk)
        return cls(chunks)


@dataclass(slots=True)
class Bye:
    ssrcs: list[int] = field(default_factory=list)
    reason: bytes = b""

    def build(self) -> bytes:
        body = b"".join(_I.pack(s) for s in self.ssrcs)
        if self.reason:
            reason = bytes([len(self.reason)]) + self.reason
            body += reason + bytes(-len(reason) % 4)
        return _header(len(self.ssrcs), PT_BYE, len(body)) + body

    @classmethod
    def parse(cls, count: int, body) -> "Bye":
        if len(body) < 4 * count:
            raise ParseError("BYE SSRC list runs past the packet")
        ssrcs = list(struct.unpack_from(f">{count}I", body))
        reason = b""
        if len(body) > 4 * count:
            length = body[4 * count]
            if 4 * count + 1 + length > len(body):
                raise ParseError("BYE reason runs past the packet")
            reason = bytes(body[4 * count + 1:4 * count + 1 + length])
        return cls(ssrcs, reason)


# -- APP, including librist's ---------------------------------------------------------------
@dataclass(slots=True)
class App:
    subtype: int
    ssrc: int
    name: bytes
    data: bytes = b""

    def build(self) -> bytes:
        if len(self.name) != 4:
            raise ValueError("APP name must be 4 bytes")
        body = _I.pack(self.ssrc) + self.name + self.data
        return _header(self.subtype, PT_APP, len(body)) + body


@dataclass(slots=True)
class RistRangeNack:
    """librist's default NACK: ranges ``start .. start+extra`` (APP subtype 0, name RIST)."""

    ssrc: int
    ranges: list[tuple[int, int]] = field(default_factory=list)   # (start_seq, extra)

    @classmethod
    def from_seqs(cls, ssrc: int, seqs: list[int]) -> "RistRangeNack":
        """Compress sequence numbers (16-bit, in order, may wrap) into ranges."""
        ranges: list[tuple[int, int]] = []
        for s in seqs:
            s &= 0xFFFF
            if ranges and (ranges[-1][0] + ranges[-1][1] + 1) & 0xFFFF == s and ranges[-1][1] < 0xFFFF:
                ranges[-1] = (ranges[-1][0], ranges[-1][1] + 1)
            else:
                ranges.append((s, 0))
        return cls(ssrc, ranges)

    def seqs(self) -> list[int]:
        return [(start + k) & 0xFFFF for start, extra in self.ranges for k in range(extra + 1)]

    def build(self) -> bytes:
        body = _I.pack(self.ssrc) + RIST_NAME + b"".join(
            struct.pack(">HH", s & 0xFFFF, e & 0xFFFF) for s, e in self.ranges)
        return _header(RIST_RANGE_NACK, PT_APP, len(body)) + body


@dataclass(slots=True)
class RistEcho:
    """librist's RTT echo (APP subtype 2 request / 3 response): NTP time and a delay in µs."""

    ssrc: int
    ntp_timestamp: int
    delay_us: int = 0
    response: bool = False

    def build(self) -> bytes:
        body = _I.pack(self.ssrc) + RIST_NAME + struct.pack(">QI", self.ntp_timestamp,
                                                             self.delay_us & 0xFFFFFFFF)
        return _header(RIST_ECHO_RESPONSE if self.response else RIST_ECHO_REQUEST, PT_APP,
                       len(body)) + body


def _parse_app(count: int, body):
    if len(body) < 8:
        raise ParseError("APP packet shorter than SSRC + name")
    ssrc, = _I.unpack_from(body)
    name = bytes(body[4:8])
    data = body[8:]
    if name == RIST_NAME:
        if count == RIST_RANGE_NACK:
            if len(data) % 4:
                raise ParseError("RIST range NACK records are 4 bytes each")
            return RistRangeNack(ssrc, [struct.unpack_from(">HH", data, i)
                                        for i in range(0, len(data), 4)])
        if count in (RIST_ECHO_REQUEST, RIST_ECHO_RESPONSE):
            if len(data) < 12:
                raise ParseError("RIST echo packet shorter than 24 bytes")
            ntp, delay = struct.unpack_from(">QI", data)
            return RistEcho(ssrc, ntp, delay, count == RIST_ECHO_RESPONSE)
    return App(count, ssrc, name, bytes(data))


# -- RTPFB / PSFB (RFC 4585, 5104, 8888) ---------------------------------------------------
@dataclass(slots=True)
class GenericNack:
    sender_ssrc: int
    media_ssrc: int
    items: list[tuple[int, int]] = field(default_factory=list)   # (pid, blp)

    @classmethod
    def from_seqs(cls, sender_ssrc: int, media_ssrc: int, seqs: list[int]) -> "GenericNack":
        items: list[tuple[int, int]] = []
        for s in seqs:
            s &= 0xFFFF
            if items:
                pid, blp = items[-1]
                d = (s - pid) & 0xFFFF
                if 1 <= d <= 16:
                    items[-1] = (pid, blp | (1 << (d - 1)))
                    continue
                if d == 0:
                    continue
            items.append((s, 0))
        return cls(sender_ssrc, media_ssrc, items)

    def seqs(self) -> list[int]:
        out = []
        for pid, blp in self.items:
            out.append(pid)
            out += [(pid + k + 1) & 0xFFFF for k in range(16) if blp >> k & 1]
        return out

    def build(self) -> bytes:
        body = _II.pack(self.sender_ssrc, self.media_ssrc) + b"".join(
            struct.pack(">HH", p, b) for p, b in self.items)
        return _header(FMT_NACK, PT_RTPFB, len(body)) + body


@dataclass(slots=True)
class Pli:
    sender_ssrc: int
    media_ssrc: int

    def build(self) -> bytes:
        return _header(FMT_PLI, PT_PSFB, 8) + _II.pack(self.sender_ssrc, self.media_ssrc)


@dataclass(slots=True)
class Tmmbr:
    """Temporary maximum media bit rate request (FMT 3) or notification (FMT 4)."""

    sender_ssrc: int
    entries: list[tuple[int, int, int]] = field(default_factory=list)  # (ssrc, bit/s, overhead)
    notification: bool = False

    @staticmethod
    def encode_rate(bitrate: int) -> tuple[int, int]:
        """(exp, mantissa) with mantissa < 2^17 and mantissa·2^exp ≤ bitrate."""
        exp = 0
        while bitrate >> exp >= 1 << 17:
            exp += 1
        return exp, bitrate >> exp

    def build(self) -> bytes:
        body = _II.pack(self.sender_ssrc, 0)
        for ssrc, bitrate, overhead in self.entries:
            exp, mantissa = self.encode_rate(bitrate)
            if exp > 63:
                raise ValueError("bit rate too large for TMMBR")
            body += _II.pack(ssrc, exp << 26 | mantissa << 9 | (overhead & 0x1FF))
        return _header(FMT_TMMBN if self.notification else FMT_TMMBR, PT_RTPFB, len(body)) + body

    @classmethod
    def parse(cls, fmt: int, body) -> "Tmmbr":
        if len(body) < 8 or (len(body) - 8) % 8:
            raise ParseError("TMMBR/TMMBN FCI entries are 8 bytes each")
        entries = []
        for i in range(8, len(body), 8):
            ssrc, word = _II.unpack_from(body, i)
            entries.append((ssrc, (word >> 9 & 0x1FFFF) << (word >> 26), word & 0x1FF))
        return cls(_I.unpack_from(body)[0], entries, fmt == FMT_TMMBN)


ATO_UNITS = 1024          # arrival time offsets count 1/1024 s
ATO_OVERRANGE = 0x1FFE    # RFC 8888: the packet arrived, but too long before the report
ATO_UNAVAILABLE = 0x1FFF
MAX_CCFB_PACKETS = 16384  # metric blocks one report may carry


@dataclass(slots=True)
class CcfbReport:
    """Per-packet metrics for one SSRC: (received, ecn, arrival time offset in 1/1024 s)."""

    ssrc: int
    begin_seq: int
    metrics: list[tuple[bool, int, int]] = field(default_factory=list)


@dataclass(slots=True)
class Ccfb:
    """RFC 8888 congestion control feedback: what arrived when, per packet."""

    sender_ssrc: int
    reports: list[CcfbReport] = field(default_factory=list)
    report_timestamp: int = 0       # NTP middle 32 bits (16.16) at report time

    @classmethod
    def from_arrivals(cls, sender_ssrc: int, report_time: float,
                      streams: dict[int, list[tuple[int, float | None, int]]]) -> "Ccfb":
        """Build from ``{ssrc: [(seq, arrival_time or None, ecn)]}``; times in seconds on
        the same scale as ``report_time`` (the report timestamp is their 16.16 form)."""
        from strata_roq.rtp.ntp import ntp_from_seconds, ntp_middle32
        reports = []
        for ssrc, packets in streams.items():
            if not packets:
                continue
            # Sequence numbers may arrive out of order and wrap: place each relative to the
            # first one seen (signed 16-bit distance), then cover the span they occupy.
            first = packets[0][0]
            rel = [(((p[0] - first + 0x8000) & 0xFFFF) - 0x8000, p) for p in packets]
            lo, hi = min(r for r, _ in rel), max(r for r, _ in rel)
            lo = max(lo, hi - (MAX_CCFB_PACKETS - 1))      # too wide: report the newest
            begin = (first + lo) & 0xFFFF
            metrics = [(False, 0, 0)] * (hi - lo + 1)
            for r, (seq, arrival, ecn) in rel:
                if arrival is None or r < lo:
                    continue
                ato = round((report_time - arrival) * ATO_UNITS)
                ato = ATO_OVERRANGE if ato >= ATO_OVERRANGE else max(0, ato)
                metrics[r - lo] = (True, ecn & 3, ato)
            reports.append(CcfbReport(ssrc, begin, metrics))
        return cls(sender_ssrc, reports, ntp_middle32(ntp_from_seconds(report_time)))

    def arrivals(self, report_time: float) -> dict[int, list[tuple[int, float | None]]]:
        """``{ssrc: [(seq, arrival time or None)]}`` given the report's send time in seconds."""
        out = {}
        for r in self.reports:
            out[r.ssrc] = [((r.begin_seq + i) & 0xFFFF,
                            report_time - ato / ATO_UNITS if received and ato < ATO_OVERRANGE else None)
                           for i, (received, _ecn, ato) in enumerate(r.metrics)]
        return out

    def build(self) -> bytes:
        body = bytearray(_I.pack(self.sender_ssrc))
        for r in self.reports:
            if not 1 <= len(r.metrics) <= 16384:
                raise ValueError("a CCFB report covers 1..16384 packets")
            body += _I.pack(r.ssrc) + struct.pack(">HH", r.begin_seq & 0xFFFF, len(r.metrics))
            body += struct.pack(f">{len(r.metrics)}H", *(
                (0x8000 | (ecn & 3) << 13 | (ato & 0x1FFF)) if received else 0
                for received, ecn, ato in r.metrics))
            if len(r.metrics) % 2:
                body += b"\x00\x00"
        body += _I.pack(self.report_timestamp)
        return _header(FMT_CCFB, PT_RTPFB, len(body)) + bytes(body)

    @classmethod
    def parse(cls, body) -> "Ccfb":
        n = len(body)
        if n < 8:
            raise ParseError("CCFB shorter than sender SSRC + report timestamp")
        sender, = _I.unpack_from(body)
        i, reports = 4, []
        while i < n - 4:
            if i + 8 > n - 4:
                raise ParseError("CCFB report block header runs past the packet")
            ssrc, = _I.unpack_from(body, i)
            begin, count = struct.unpack_from(">HH", body, i + 4)
            i += 8
            if count == 0 or i + 2 * count > n - 4:
                raise ParseError("CCFB metric blocks run past the packet")
            words = struct.unpack_from(f">{count}H", body, i)
            reports.append(CcfbReport(ssrc, begin, [(bool(w & 0x8000), w >> 13 & 3, w & 0x1FFF)
                                                    for w in words]))
            i += 2 * count + (2 if count % 2 else 0)
        return cls(sender, reports, _I.unpack_from(body, n - 4)[0])


# -- XR (RFC 3611) ---------------------------------------------------------------------------
@dataclass(slots=True)
class Xr:
    """Extended report; blocks kept raw as (block type, type-specific byte, content)."""

    ssrc: int
    blocks: list[tuple[int, int, bytes]] = field(default_factory=list)

    def rrtr(self) -> int | None:
        """NTP timestamp of a receiver reference time block (BT 4), if any."""
        for bt, _, content in self.blocks:
            if bt == 4 and len(content) >= 8:
                return struct.unpack_from(">Q", content)[0]
        return None

    def dlrr(self) -> list[tuple[int, int, int]]:
        """(ssrc, last RR, delay since last RR) sub-blocks of DLRR blocks (BT 5)."""
        out = []
        for bt, _, content in self.blocks:
            if bt == 5:
                out += [struct.unpack_from(">III", content, i)
                        for i in range(0, len(content) - 11, 12)]
        return out

    def build(self) -> bytes:
        body = bytearray(_I.pack(self.ssrc))
        for bt, specific, content in self.blocks:
            if len(content) % 4:
                raise ValueError("XR block content must be a multiple of 4 bytes")
            body += struct.pack(">BBH", bt, specific, len(content) // 4) + content
        return _header(0, PT_XR, len(body)) + bytes(body)

    @classmethod
    def parse(cls, body) -> "Xr":
        if len(body) < 4:
            raise ParseError("XR shorter than its SSRC")
        i, n, blocks = 4, len(body), []
        while i < n:
            if i + 4 > n:
                raise ParseError("XR block header runs past the packet")
            bt, specific, words = struct.unpack_from(">BBH", body, i)
            if i + 4 + 4 * words > n:
                raise ParseError("XR block runs past the packet")
            blocks.append((bt, specific, bytes(body[i + 4:i + 4 + 4 * words])))
            i += 4 + 4 * words
        return cls(_I.unpack_from(body)[0], blocks)


@dataclass(slots=True)
class UnknownRtcp:
    """A packet type this module does not interpret, kept byte-exact."""

    count: int
    packet_type: int
    body: bytes = b""

    def build(self) -> bytes:
        return _header(self.count, self.packet_type, len(self.body)) + self.body


# -- compound --------------------------------------------------------------------------------
def _parse_one(count: int, pt: int, body):
    if pt == PT_SR:
        return SenderReport.parse(count, body)
    if pt == PT_RR:
        return ReceiverReport.parse(count, body)
    if pt == PT_SDES:
        return Sdes.parse(count, body)
    if pt == PT_BYE:
        return Bye.parse(count, body)
    if pt == PT_APP:
        return _parse_app(count, body)
    if pt == PT_RTPFB:
        if count == FMT_NACK:
            if len(body) < 8 or len(body) % 4:
                raise ParseError("generic NACK needs two SSRCs and 4-byte FCI entries")
            s, m = _II.unpack_from(body)
            return GenericNack(s, m, [struct.unpack_from(">HH", body, i)
                                      for i in range(8, len(body), 4)])
        if count in (FMT_TMMBR, FMT_TMMBN):
            return Tmmbr.parse(count, body)
        if count == FMT_CCFB:
            return Ccfb.parse(body)
    if pt == PT_PSFB and count == FMT_PLI:
        if len(body) < 8:
            raise ParseError("PLI needs two SSRCs")
        return Pli(*_II.unpack_from(body))
    if pt == PT_XR:
        return Xr.parse(body)
    return UnknownRtcp(count, pt, bytes(body))


def parse_rtcp_compound(data: bytes | bytearray | memoryview) -> list:
    """Parse every packet of an RTCP compound; raise ParseError on any framing error."""
    view = memoryview(data)
    n = len(view)
    if n < 4:
        raise ParseError(f"RTCP packet of {n} bytes is shorter than its header")
    out, i = [], 0
    while i < n:
        if i + 4 > n:
            raise ParseError("trailing bytes after the last RTCP packet")
        first, pt, words = struct.unpack_from(">BBH", view, i)
        if first >> 6 != 2:
            raise ParseError(f"RTCP version {first >> 6}, expected 2")
        size = 4 * (words + 1)
        if i + size > n:
            raise ParseError(f"RTCP length {size} runs past the compound ({n - i} bytes left)")
        body = view[i + 4:i + size]
        if first & 0x20:  # padding: only legal on the last packet (RFC 3550 §6.4.1)
            pad = body[-1] if len(body) else 0
            if i + size != n or pad == 0 or pad > len(body):
                raise ParseError("invalid RTCP padding")
            body = body[:len(body) - pad]
        out.append(_parse_one(first & 0x1F, pt, body))
        i += size
    return out


def build_rtcp_compound(packets: list) -> bytes:
    """Concatenate packets into one compound (SR/RR first, as RFC 3550 asks, is the caller's
    choice: librist-style feedback sometimes starts with an empty RR)."""
    return b"".join(p.build() for p in packets)
