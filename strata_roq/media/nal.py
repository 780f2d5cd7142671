"""H.264 / HEVC NAL unit scanning: what kind of picture an access unit is, cheaply.

The gateway's schedulers give I-frames, P-frames and disposable B-frames different
treatment, so every access unit must be classified as it arrives. Only the head of an
access unit is read: NAL headers (H.264 §7.3.1, HEVC §7.3.1.2), the first slice header up to
``slice_type`` (H.264 §7.3.3, HEVC §7.3.6.1) and SEI messages ahead of it (where the test
source puts its capture-time stamp). Nothing here decodes pictures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from strata_roq.errors import ParseError


class FrameKind(str, Enum):
    """What an access unit (or other unit of media) is, as far as scheduling cares."""

    IDR = "idr"          # instantaneous decoder refresh: a clean random-access point
    I = "i"              # intra picture that is not an IDR (e.g. HEVC CRA, H.264 recovery point)
    P = "p"
    B = "b"
    AUDIO = "audio"
    PSI = "psi"          # PAT/PMT/SI tables
    DATA = "data"        # metadata, subtitles, anything else
    UNKNOWN = "unknown"  # video whose slice header was not (yet) seen

    @property
    def is_key(self) -> bool:
        return self in (FrameKind.IDR, FrameKind.I)


H264_NAL_SLICE = 1
H264_NAL_IDR = 5
H264_NAL_SEI = 6
H264_NAL_SPS = 7
H264_NAL_PPS = 8
H264_NAL_AUD = 9

HEVC_NAL_IDR_W_RADL = 19
HEVC_NAL_IDR_N_LP = 20
HEVC_NAL_CRA = 21
HEVC_NAL_VPS = 32
HEVC_NAL_SPS = 33
HEVC_NAL_PPS = 34
HEVC_NAL_AUD = 35
HEVC_NAL_PREFIX_SEI = 39
HEVC_NAL_SUFFIX_SEI = 40

SEI_USER_DATA_UNREGISTERED = 5

_H264_SLICE_KIND = {0: FrameKind.P, 1: FrameKind.B, 2: FrameKind.I, 3: FrameKind.P, 4: FrameKind.I}
_HEVC_SLICE_KIND = {0: FrameKind.B, 1: FrameKind.P, 2: FrameKind.I}


def iter_nal_units(data: bytes, limit: int | None = None):
    """Yield ``(start, end)`` of each NAL unit payload (after its start code) in Annex-B data.

    ``limit`` stops the scan after that many bytes (a header scan need not read a whole
    picture). Trailing zero bytes belong to the next start code and are trimmed.
    """
    n = len(data) if limit is None else min(len(data), limit)
    pos = data.find(b"\x00\x00\x01", 0, n)
    while pos >= 0:
        start = pos + 3
        nxt = data.find(b"\x00\x00\x01", start, n)
        if nxt < 0:
            end = len(data) if limit is None or n == len(data) else n
            yield start, end
            return
        end = nxt
        while end > start and data[end - 1] == 0:
            end -= 1
        yield start, end
        pos = nxt


def unescape_rbsp(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 → 00 00)."""
    if b"\x00\x00\x03" not in nal:
        return nal
    out = bytearray()
    i = 0
    while True:
        j = nal.find(b"\x00\x00\x03", i)
        if j < 0:
            out += nal[i:]
            return bytes(out)
        out += nal[i:j + 2]
        i = j + 3


def escape_rbsp(rbsp: bytes) -> bytes:
    """Insert emulation-prevention bytes so no 00 00 0x (x ≤ 3) appears in the NAL."""
    out = bytearray()
    zeros = 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


class BitReader:
    """MSB-first bit reader with Exp-Golomb, over a short RBSP prefix."""

    __slots__ = ("value", "nbits", "pos")

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.nbits = len(data) * 8
        self.pos = 0

    def u(self, n: int) -> int:
        if self.pos + n > self.nbits:
            raise ParseError("bitstream ended inside a header")
        self.pos += n
        return (self.value >> (self.nbits - self.pos)) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ParseError("Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + (self.u(zeros) if zeros else 0)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


#: H.264 profiles whose SPS carries chroma format, bit depths and scaling lists (§7.3.2.1.1).
_H264_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def h264_sps_frame_num_bits(rbsp: bytes) -> tuple[int, int, bool]:
    """``(sps id, bits of frame_num, separate_colour_plane)`` from an SPS RBSP (after the
    NAL header byte), H.264 §7.3.2.1.1."""
    r = BitReader(rbsp[:64])
    profile = r.u(8)
    r.u(16)                                    # constraint flags, level_idc
    sps_id = r.ue()
    separate = False
    if profile in _H264_HIGH_PROFILES:
        chroma = r.ue()
        if chroma == 3:
            separate = bool(r.u(1))
        r.ue()                                 # bit_depth_luma_minus8
        r.ue()                                 # bit_depth_chroma_minus8
        r.u(1)                                 # qpprime_y_zero_transform_bypass_flag
        if r.u(1):                             # seq_scaling_matrix_present_flag
            for i in range(8 if chroma != 3 else 12):
                if r.u(1):                     # scaling_list_present: skip its deltas
                    last = following = 8
                    for _ in range(16 if i < 6 else 64):
                        if following:
                            following = (last + r.se() + 256) % 256
                        last = following or last
    return sps_id, r.ue() + 4, separate


def _ff_coded(rbsp: bytes, i: int) -> tuple[int, int] | None:
    """An SEI payloadType/payloadSize value (0xFF bytes add 255 each); (value, next index)."""
    value, n = 0, len(rbsp)
    while i < n and rbsp[i] == 0xFF:
        value += 255
        i += 1
    return None if i >= n else (value + rbsp[i], i + 1)


def parse_sei_messages(rbsp: bytes, offset: int):
    """Yield ``(payload_type, payload)`` from an SEI RBSP starting at ``offset`` (§7.3.2.3).

    Stops quietly at the trailing bits or where the (possibly truncated) data ends.
    """
    i, n = offset, len(rbsp)
    while i < n and not (rbsp[i] == 0x80 and i == n - 1):
        ptype = _ff_coded(rbsp, i)
        size = ptype and _ff_coded(rbsp, ptype[1])
        if not size or size[1] + size[0] > n:
            return
        i = size[1]
        yield ptype[0], rbsp[i:i + size[0]]
        i += size[0]


@dataclass
class AccessUnitInfo:
    """What the head of one access unit says about it."""

    kind: FrameKind = FrameKind.UNKNOWN
    reference: bool = True          # False: no other picture depends on it (disposable)
    temporal_id: int = 0
    frame_num: int | None = None    # H.264 slice frame_num, once the SPS was seen
    max_frame_num: int = 0          # its modulus (2 ** log2_max_frame_num)
    nal_types: list[int] = field(default_factory=list)
    user_data: list[bytes] = field(default_factory=list)  # SEI user-data-unregistered payloads

    @property
    def complete(self) -> bool:
        """True once a slice header was read, i.e. ``kind`` is final."""
        return self.kind is not FrameKind.UNKNOWN


class NalScanner:
    """Classifies access units of one H.264 or HEVC elementary stream.

    Keeps the little parameter-set state slice headers need (HEVC's
    ``num_extra_slice_header_bits`` from the PPS).
    """

    def __init__(self, codec: str) -> None:
        if codec not in ("h264", "hevc"):
            raise ValueError(f"unsupported video codec {codec!r}")
        self.codec = codec
        self.hevc_extra_bits: dict[int, int] = {}
        self.h264_sps: dict[int, tuple[int, bool]] = {}   # sps id -> (frame_num bits, sep.)
        self.h264_pps: dict[int, int] = {}                # pps id -> sps id

    def scan(self, data: bytes, limit: int | None = None) -> AccessUnitInfo:
        """Classify the access unit in ``data`` (Annex-B), reading at most ``limit`` bytes."""
        info = AccessUnitInfo()
        for start, end in iter_nal_units(data, limit):
            if end <= start:
                continue
            try:
                done = (self._h264_nal if self.codec == "h264" else self._hevc_nal)(
                    data, start, end, info)
            except ParseError:
                continue
            if done:
                break
        return info

    # -- H.264 ------------------------------------------------------------------------
    def _h264_nal(self, data: bytes, start: int, end: int, info: AccessUnitInfo) -> bool:
        header = data[start]
        nal_type = header & 0x1F
        info.nal_types.append(nal_type)
        if nal_type == H264_NAL_SEI:
            rbsp = unescape_rbsp(data[start:end])
            for ptype, payload in parse_sei_messages(rbsp, 1):
                if ptype == SEI_USER_DATA_UNREGISTERED:
                    info.user_data.append(payload)
            return False
        if nal_type == H264_NAL_SPS:
            sps_id, bits, separate = h264_sps_frame_num_bits(unescape_rbsp(data[start + 1:end]))
            self.h264_sps[sps_id] = (bits, separate)
            return False
        if nal_type == H264_NAL_PPS:
            reader = BitReader(unescape_rbsp(data[start + 1:min(end, start + 16)]))
            pps_id = reader.ue()
            self.h264_pps[pps_id] = reader.ue()
            return False
        if nal_type in (H264_NAL_SLICE, H264_NAL_IDR):
            info.reference = (header >> 5) & 3 != 0
            reader = BitReader(unescape_rbsp(data[start + 1:min(end, start + 24)]))
            reader.ue()  # first_mb_in_slice
            slice_type = reader.ue() % 5
            info.kind = FrameKind.IDR if nal_type == H264_NAL_IDR else _H264_SLICE_KIND[slice_type]
            sps = self.h264_sps.get(self.h264_pps.get(reader.ue(), -1))
            if sps is not None:
                if sps[1]:
                    reader.u(2)  # colour_plane_id
                info.frame_num = reader.u(sps[0])
                info.max_frame_num = 1 << sps[0]
            return True
        return False

    # -- HEVC -------------------------------------------------------------------------
    def _hevc_nal(self, data: bytes, start: int, end: int, info: AccessUnitInfo) -> bool:
        if end - start < 2:
            return False
        nal_type = (data[start] >> 1) & 0x3F
        info.nal_types.append(nal_type)
        if nal_type in (HEVC_NAL_PREFIX_SEI, HEVC_NAL_SUFFIX_SEI):
            rbsp = unescape_rbsp(data[start:end])
            for ptype, payload in parse_sei_messages(rbsp, 2):
                if ptype == SEI_USER_DATA_UNREGISTERED:
                    info.user_data.append(payload)
            return False
        if nal_type == HEVC_NAL_PPS:
            reader = BitReader(unescape_rbsp(data[start + 2:min(end, start + 16)]))
            pps_id = reader.ue()
            reader.ue()  # pps_seq_parameter_set_id
            reader.u(2)  # dependent_slice_segments_enabled_flag, output_flag_present_flag
            self.hevc_extra_bits[pps_id] = reader.u(3)
            return False
        if nal_type <= 21 and not 10 <= nal_type <= 15:
            info.temporal_id = (data[start + 1] & 7) - 1
            info.reference = not (nal_type < 16 and nal_type % 2 == 0)
            if nal_type in (HEVC_NAL_IDR_W_RADL, HEVC_NAL_IDR_N_LP):
                info.kind = FrameKind.IDR
                return True
            reader = BitReader(unescape_rbsp(data[start + 2:min(end, start + 24)]))
            if not reader.u(1):  # first_slice_segment_in_pic_flag: not the picture's start
                return False
            if 16 <= nal_type <= 23:
                reader.u(1)  # no_output_of_prior_pics_flag
            pps_id = reader.ue()
            reader.u(self.hevc_extra_bits.get(pps_id, 0))
            slice_type = reader.ue()
            if slice_type not in _HEVC_SLICE_KIND:
                raise ParseError(f"HEVC slice_type {slice_type} out of range")
            info.kind = _HEVC_SLICE_KIND[slice_type]
            return True
        return False
