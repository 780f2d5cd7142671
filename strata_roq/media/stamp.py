"""Capture-time stamps carried inside the video itself.

The test source puts one SEI *user data unregistered* message (H.264 §D.1.6, HEVC §D.2.7)
in every access unit: our UUID, then ``stream_id`` (u32), ``frame_index`` (u32) and
``capture_ns`` (u64, Unix-epoch nanoseconds when the picture was made). It survives any
transport that keeps the elementary stream intact (TS, RTP, RIST, RoQ, WebTransport), and
decoders ignore it, so any receiver — the probe, the browser player — can measure
glass-to-glass latency and find missing frames by index.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from strata_roq.media.nal import (H264_NAL_AUD, HEVC_NAL_AUD, SEI_USER_DATA_UNREGISTERED,
                                  escape_rbsp, iter_nal_units)

STAMP_UUID = uuid.uuid5(uuid.NAMESPACE_URL, "https://strata-roq.invalid/capture-stamp").bytes
_BODY = struct.Struct(">IIQ")
STAMP_SIZE = len(STAMP_UUID) + _BODY.size


@dataclass(frozen=True)
class CaptureStamp:
    stream_id: int
    frame_index: int
    capture_ns: int

    @property
    def capture_time(self) -> float:
        """Capture time in seconds since the epoch (the scale of ``WallClock``)."""
        return self.capture_ns / 1e9

    def payload(self) -> bytes:
        """The SEI user-data-unregistered payload: UUID + body."""
        return STAMP_UUID + _BODY.pack(self.stream_id & 0xFFFFFFFF,
                                       self.frame_index & 0xFFFFFFFF, self.capture_ns)

    @classmethod
    def from_payload(cls, payload: bytes) -> "CaptureStamp | None":
        """The stamp in an SEI user-data payload, or None if it is someone else's."""
        if len(payload) < STAMP_SIZE or payload[:16] != STAMP_UUID:
            return None
        return cls(*_BODY.unpack_from(payload, 16))


def build_sei_nal(stamp: CaptureStamp, codec: str = "h264") -> bytes:
    """One complete SEI NAL unit, with a 4-byte start code, carrying ``stamp``."""
    payload = stamp.payload()
    message = bytes([SEI_USER_DATA_UNREGISTERED, len(payload)]) + payload
    rbsp = message + b"\x80"  # rbsp_trailing_bits
    header = b"\x06" if codec == "h264" else b"\x4e\x01"  # H.264 type 6; HEVC prefix SEI 39
    return b"\x00\x00\x00\x01" + header + escape_rbsp(rbsp)


def insert_stamp(access_unit: bytes, stamp: CaptureStamp, codec: str = "h264") -> bytes:
    """Return ``access_unit`` (Annex-B) with the stamp SEI after the access unit delimiter.

    An SEI must follow the AUD and precede the first slice (H.264 §7.4.1.2.3), so it goes
    right after the AUD when there is one, else at the very start.
    """
    sei = build_sei_nal(stamp, codec)
    aud = H264_NAL_AUD if codec == "h264" else HEVC_NAL_AUD
    for start, end in iter_nal_units(access_unit, 64):
        nal_type = access_unit[start] & 0x1F if codec == "h264" else (access_unit[start] >> 1) & 0x3F
        if nal_type == aud:
            cut = access_unit.find(b"\x00\x00\x01", end)
            if cut < 0:
                cut = len(access_unit)
            elif cut > 0 and access_unit[cut - 1] == 0:
                cut -= 1
            return access_unit[:cut] + sei + access_unit[cut:]
        break
    return sei + access_unit


def find_stamp(user_data: list[bytes]) -> CaptureStamp | None:
    """The first of our stamps among SEI user-data payloads (see ``AccessUnitInfo``)."""
    for payload in user_data:
        stamp = CaptureStamp.from_payload(payload)
        if stamp is not None:
            return stamp
    return None
