"""AV1 as the gateway meets it: OBUs, their MPEG-TS start-code form, and the few header
fields that scheduling, layer dropping and the browser need.

An AV1 temporal unit is a run of OBUs (AV1 §5.3). In MPEG-TS (AOM "Carriage of AV1 in
MPEG-2 TS" §4.2–4.3) each OBU is preceded by a ``00 00 01`` start code and escaped against
start-code emulation exactly like an H.264 NAL unit; browsers (WebCodecs) and decoders want
the plain low-overhead form, every OBU with its ``obu_size``. :func:`to_ts` and
:func:`from_ts` convert between the two.

:class:`Av1Scanner` reads a frame's head the way :class:`~strata_roq.media.nal.NalScanner`
reads an H.264 access unit: key frame or not, and whether any later frame can depend on it
— a frame whose ``refresh_frame_flags`` is 0 is stored in no reference slot, so nothing
can predict from it: AV1's disposable layer (the top temporal layer of SVT-AV1's low-delay
hierarchy), dropped first when a path is short of capacity. The sequence header also gives
the WebCodecs codec string (``av01.P.LLT.DD``) and the TS AV1 video descriptor.

Capture stamps travel in a metadata OBU of an *unregistered user private* type (AV1 §6.7.1),
which decoders skip. Sans-I/O: bytes in, facts out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from strata_roq.errors import ParseError
from strata_roq.media.nal import AccessUnitInfo, BitReader, FrameKind, escape_rbsp, unescape_rbsp

OBU_SEQUENCE_HEADER = 1
OBU_TEMPORAL_DELIMITER = 2
OBU_FRAME_HEADER = 3
OBU_METADATA = 5
OBU_FRAME = 6
OBU_REDUNDANT_FRAME_HEADER = 7

KEY_FRAME, INTER_FRAME, INTRA_ONLY_FRAME, SWITCH_FRAME = 0, 1, 2, 3
ALL_FRAMES = 0xFF
#: metadata_type of the capture stamp: 6–31 are "unregistered user private" (AV1 §6.7.1).
METADATA_TYPE_STAMP = 31
#: a frame header is read from at most this many payload bytes
FRAME_HEADER_BYTES = 48
START_CODE = b"\x00\x00\x01"


def leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_leb128(data, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        if pos >= len(data):
            raise ParseError("leb128 value runs past the data")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos
    raise ParseError("leb128 value longer than 8 bytes")


@dataclass(frozen=True, slots=True)
class Obu:
    type: int
    temporal_id: int | None      # None: no extension header
    spatial_id: int
    payload: bytes

    def to_bytes(self) -> bytes:
        """The OBU in low-overhead form: header, extension if any, ``obu_size``, payload."""
        ext = self.temporal_id is not None
        head = bytes([(self.type << 3) | (0x04 if ext else 0) | 0x02])
        if ext:
            head += bytes([(self.temporal_id << 5) | (self.spatial_id << 3)])
        return head + leb128(len(self.payload)) + self.payload


def _parse_obu(data, pos: int, end: int, partial: bool = False) -> tuple[Obu, int]:
    """One OBU at ``pos``; an OBU without ``obu_size`` runs to ``end``. ``partial``: an OBU
    cut short by ``end`` (a frame's head) keeps what there is of its payload."""
    if pos >= end:
        raise ParseError("empty OBU")
    h = data[pos]
    if h & 0x80:
        raise ParseError("OBU forbidden bit set")
    obu_type, ext, has_size = (h >> 3) & 0x0F, h & 0x04, h & 0x02
    pos += 1
    tid, sid = None, 0
    if ext:
        if pos >= end:
            raise ParseError("OBU extension header missing")
        tid, sid = data[pos] >> 5, (data[pos] >> 3) & 0x03
        pos += 1
    if has_size:
        size, pos = read_leb128(data, pos)
        if pos + size > end:
            if not partial:
                raise ParseError(f"OBU of {size} bytes runs past the data")
            size = end - pos
    else:
        size = end - pos
    return Obu(obu_type, tid, sid, bytes(data[pos:pos + size])), pos + size


def iter_obus(tu: bytes):
    """The OBUs of a temporal unit in low-overhead form."""
    pos = 0
    while pos < len(tu):
        obu, pos = _parse_obu(tu, pos, len(tu))
        yield obu


def _ts_units(data: bytes, limit: int | None = None):
    """Unescaped bytes after each start code (trailing zeros kept: ``obu_size`` bounds them)."""
    n = len(data) if limit is None else min(len(data), limit)
    pos = data.find(START_CODE, 0, n)
    while pos >= 0:
        nxt = data.find(START_CODE, pos + 3, n)
        yield unescape_rbsp(data[pos + 3:nxt if nxt >= 0 else n])
        pos = nxt


def iter_ts_obus(data: bytes, limit: int | None = None, partial: bool = False):
    """The OBUs of start-code-format data (a PES payload); malformed units are skipped;
    ``partial``: the last may be cut short (see :func:`_parse_obu`)."""
    for unit in _ts_units(data, limit):
        if not unit:
            continue
        has_size = unit[0] & 0x02
        end = len(unit)
        if not has_size:
            while end > 1 and unit[end - 1] == 0:   # zeros before the next start code
                end -= 1
        try:
            obu, _ = _parse_obu(unit, 0, end, partial)
        except ParseError:
            continue
        yield obu


def to_ts(tu: bytes) -> bytes:
    """Low-overhead temporal unit → start-code format for a PES payload."""
    out = bytearray()
    for obu in iter_obus(tu):
        escaped = escape_rbsp(obu.to_bytes())
        out += START_CODE + escaped
        if escaped[-1] == 0:
            out.append(3)          # no 00 may run into the next start code
    return bytes(out)


def from_ts(data: bytes) -> bytes:
    """Start-code format → low-overhead temporal unit, every OBU with its ``obu_size``."""
    return b"".join(obu.to_bytes() for obu in iter_ts_obus(data))


# -- headers ------------------------------------------------------------------------------
@dataclass(slots=True)
class SequenceHeader:
    profile: int
    level: int                    # seq_level_idx of operating point 0
    tier: int
    bit_depth: int = 8
    monochrome: bool = False
    subsampling_x: int = 1
    subsampling_y: int = 1
    chroma_sample_position: int = 0
    reduced_still_picture_header: bool = False
    decoder_model_info_present: bool = False
    equal_picture_interval: bool = False
    buffer_removal_time_length: int = 0
    frame_presentation_time_length: int = 0
    operating_points: list[tuple[int, bool]] = field(default_factory=list)  # (idc, model)
    frame_id_length: int = 0      # 0: no frame ids
    order_hint_bits: int = 0
    force_screen_content_tools: int = 2
    force_integer_mv: int = 2

    def codec_string(self) -> str:
        """WebCodecs / ISOBMFF ``av01.P.LLT.DD``."""
        return f"av01.{self.profile}.{self.level:02d}{'H' if self.tier else 'M'}.{self.bit_depth:02d}"

    def ts_descriptor(self) -> bytes:
        """The AV1 video descriptor (tag 0x80) for the PMT, from this header."""
        b1 = (self.profile << 5) | self.level
        b2 = ((self.tier << 7) | ((self.bit_depth > 8) << 6) | ((self.bit_depth == 12) << 5)
              | (self.monochrome << 4) | (self.subsampling_x << 3) | (self.subsampling_y << 2)
              | self.chroma_sample_position)
        b3 = 3 << 6                   # hdr_wcg_idc 3: no indication
        return bytes([0x80, 4, 0x81, b1, b2, b3])


def _uvlc(r: BitReader) -> int:
    zeros = 0
    while not r.u(1):
        zeros += 1
        if zeros >= 32:
            raise ParseError("uvlc longer than 32 bits")
    return (1 << zeros) - 1 + (r.u(zeros) if zeros else 0)


def parse_sequence_header(payload: bytes) -> SequenceHeader:
    """AV1 §5.5: the fields later headers depend on, and those the codec string names."""
    r = BitReader(payload)
    profile, _still, reduced = r.u(3), r.u(1), r.u(1)
    if profile > 2:
        raise ParseError(f"AV1 seq_profile {profile} is reserved")
    seq = SequenceHeader(profile, 0, 0, reduced_still_picture_header=bool(reduced))
    if reduced:
        seq.level = r.u(5)
        seq.operating_points = [(0, False)]
    else:
        buffer_delay_length = 0
        if r.u(1):                                     # timing_info_present_flag
            r.u(32), r.u(32)
            seq.equal_picture_interval = bool(r.u(1))
            if seq.equal_picture_interval:
                _uvlc(r)
            seq.decoder_model_info_present = bool(r.u(1))
            if seq.decoder_model_info_present:
                buffer_delay_length = r.u(5) + 1
                r.u(32)
                seq.buffer_removal_time_length = r.u(5) + 1
                seq.frame_presentation_time_length = r.u(5) + 1
        initial_display_delay_present = r.u(1)
        for i in range(r.u(5) + 1):
            idc, level = r.u(12), r.u(5)
            tier = r.u(1) if level > 7 else 0
            if i == 0:
                seq.level, seq.tier = level, tier
            model = False
            if seq.decoder_model_info_present:
                model = bool(r.u(1))
                if model:
                    r.u(buffer_delay_length), r.u(buffer_delay_length), r.u(1)
            if initial_display_delay_present and r.u(1):
                r.u(4)
            seq.operating_points.append((idc, model))
    width_bits, height_bits = r.u(4) + 1, r.u(4) + 1
    r.u(width_bits), r.u(height_bits)
    if not reduced and r.u(1):                         # frame_id_numbers_present_flag
        delta, additional = r.u(4) + 2, r.u(3) + 1
        seq.frame_id_length = delta + additional
    r.u(3)                                 # 128x128 superblocks, filter intra, intra edge
    if not reduced:
        r.u(4)                             # interintra, masked, warped motion, dual filter
        order_hint = r.u(1)
        if order_hint:
            r.u(2)                         # jnt_comp, ref_frame_mvs
        seq.force_screen_content_tools = 2 if r.u(1) else r.u(1)
        if seq.force_screen_content_tools:
            seq.force_integer_mv = 2 if r.u(1) else r.u(1)
        if order_hint:
            seq.order_hint_bits = r.u(3) + 1
    r.u(3)                                 # superres, cdef, restoration
    _color_config(r, seq)
    return seq


def _color_config(r: BitReader, seq: SequenceHeader) -> None:
    high = r.u(1)
    if seq.profile == 2 and high:
        seq.bit_depth = 12 if r.u(1) else 10
    else:
        seq.bit_depth = 10 if high else 8
    seq.monochrome = bool(r.u(1)) if seq.profile != 1 else False
    primaries, transfer, matrix = 2, 2, 2
    if r.u(1):                                         # color_description_present_flag
        primaries, transfer, matrix = r.u(8), r.u(8), r.u(8)
    if seq.monochrome:
        return
    if primaries == 1 and transfer == 13 and matrix == 0:      # sRGB: 4:4:4
        seq.subsampling_x = seq.subsampling_y = 0
        return
    r.u(1)                                             # color_range
    if seq.profile == 1:
        seq.subsampling_x = seq.subsampling_y = 0
    elif seq.profile == 2:
        if seq.bit_depth == 12:
            seq.subsampling_x = r.u(1)
            seq.subsampling_y = r.u(1) if seq.subsampling_x else 0
        else:
            seq.subsampling_x, seq.subsampling_y = 1, 0
    if seq.subsampling_x and seq.subsampling_y:
        seq.chroma_sample_position = r.u(2)


@dataclass(frozen=True, slots=True)
class FrameHeader:
    show_existing_frame: bool
    frame_type: int
    show_frame: bool
    refresh_frame_flags: int | None    # None: not reached (no sequence header yet)
    shown_slot: int | None = None      # show_existing_frame: the slot shown


def parse_frame_header(payload: bytes, seq: SequenceHeader | None, temporal_id: int = 0,
                       spatial_id: int = 0) -> FrameHeader:
    """AV1 §5.9.2 up to ``refresh_frame_flags``. Without the sequence header only the frame
    type and show flags can be read."""
    r = BitReader(payload[:FRAME_HEADER_BYTES])
    if seq is not None and seq.reduced_still_picture_header:
        return FrameHeader(False, KEY_FRAME, True, ALL_FRAMES)
    if r.u(1):                                         # show_existing_frame
        slot = r.u(3)
        return FrameHeader(True, INTER_FRAME, True, 0, slot)
    frame_type, show_frame = r.u(2), bool(r.u(1))
    if seq is None:
        return FrameHeader(False, frame_type, show_frame, None)
    timed = seq.decoder_model_info_present and not seq.equal_picture_interval
    if show_frame and timed:
        r.u(seq.frame_presentation_time_length)
    if not show_frame:
        r.u(1)                                         # showable_frame
    intra = frame_type in (KEY_FRAME, INTRA_ONLY_FRAME)
    if frame_type == SWITCH_FRAME or (frame_type == KEY_FRAME and show_frame):
        error_resilient = 1
    else:
        error_resilient = r.u(1)
    r.u(1)                                             # disable_cdf_update
    screen = r.u(1) if seq.force_screen_content_tools == 2 else seq.force_screen_content_tools
    if screen and seq.force_integer_mv == 2:
        r.u(1)                                         # force_integer_mv
    if seq.frame_id_length:
        r.u(seq.frame_id_length)                       # current_frame_id
    if frame_type != SWITCH_FRAME:
        r.u(1)                                         # frame_size_override_flag
    r.u(seq.order_hint_bits)
    if not (intra or error_resilient):
        r.u(3)                                         # primary_ref_frame
    if seq.decoder_model_info_present and r.u(1):      # buffer_removal_time_present_flag
        for idc, model in seq.operating_points:
            if model and (idc == 0 or ((idc >> temporal_id) & 1
                                       and (idc >> (spatial_id + 8)) & 1)):
                r.u(seq.buffer_removal_time_length)
    if frame_type == SWITCH_FRAME or (frame_type == KEY_FRAME and show_frame):
        refresh = ALL_FRAMES
    else:
        refresh = r.u(8)
    return FrameHeader(False, frame_type, show_frame, refresh)


# -- stamps ------------------------------------------------------------------------------
def metadata_obu(payload: bytes, metadata_type: int = METADATA_TYPE_STAMP) -> bytes:
    """A metadata OBU (type 5) carrying ``payload``, ended by trailing bits."""
    return Obu(OBU_METADATA, None, 0, leb128(metadata_type) + payload + b"\x80").to_bytes()


def insert_metadata(tu: bytes, payload: bytes) -> bytes:
    """``tu`` (low-overhead form) with a stamp metadata OBU before its first frame (header)
    OBU, so a scan of the frame's head finds it."""
    pos = 0
    while pos < len(tu):
        obu, end = _parse_obu(tu, pos, len(tu))
        if obu.type in (OBU_FRAME, OBU_FRAME_HEADER):
            break
        pos = end
    return tu[:pos] + metadata_obu(payload) + tu[pos:]


def stamp_payload(obu: Obu) -> bytes | None:
    """The payload of a stamp-type metadata OBU (trailing bits removed), else None."""
    if obu.type != OBU_METADATA:
        return None
    try:
        kind, pos = read_leb128(obu.payload, 0)
    except ParseError:
        return None
    if kind != METADATA_TYPE_STAMP:
        return None
    body = obu.payload[pos:].rstrip(b"\x00")
    return body[:-1] if body.endswith(b"\x80") else body


# -- the scanner ---------------------------------------------------------------------------
class Av1Scanner:
    """Classifies AV1 frames of one stream; keeps the sequence header and which reference
    slots hold key frames (a shown existing key frame resets everything)."""

    codec = "av1"

    def __init__(self) -> None:
        self.sequence: SequenceHeader | None = None
        self._slot_is_key = [False] * 8

    def scan(self, data: bytes, limit: int | None = None, ts_format: bool = True) -> AccessUnitInfo:
        """Classify the frame in ``data`` (start-code format unless ``ts_format`` is False)."""
        info = AccessUnitInfo()
        obus = iter_ts_obus(data, limit, partial=True) if ts_format else _safe_obus(data)
        for obu in obus:
            info.nal_types.append(obu.type)
            if obu.type == OBU_SEQUENCE_HEADER:
                try:
                    self.sequence = parse_sequence_header(obu.payload)
                except ParseError:
                    continue
            elif obu.type == OBU_METADATA:
                body = stamp_payload(obu)
                if body is not None:
                    info.user_data.append(body)
            elif obu.type in (OBU_FRAME, OBU_FRAME_HEADER):
                try:
                    header = parse_frame_header(obu.payload, self.sequence,
                                                obu.temporal_id or 0, obu.spatial_id)
                except ParseError:
                    continue
                self._settle(info, header, obu.temporal_id or 0)
                break
        return info

    def _settle(self, info: AccessUnitInfo, header: FrameHeader, temporal_id: int) -> None:
        info.temporal_id = temporal_id
        refresh = header.refresh_frame_flags
        if header.show_existing_frame:
            shown_key = self._slot_is_key[header.shown_slot]
            info.kind = FrameKind.IDR if shown_key else FrameKind.P
            refresh = ALL_FRAMES if shown_key else 0
        elif header.frame_type == KEY_FRAME:
            info.kind = FrameKind.IDR if header.show_frame else FrameKind.I
        else:
            info.kind = FrameKind.P
        info.reference = refresh != 0            # None (unknown) counts as a reference
        if refresh:
            is_key = header.frame_type == KEY_FRAME and not header.show_existing_frame
            for slot in range(8):
                if refresh >> slot & 1:
                    self._slot_is_key[slot] = is_key or header.show_existing_frame


def _safe_obus(tu: bytes):
    try:
        yield from iter_obus(tu)
    except ParseError:
        return
