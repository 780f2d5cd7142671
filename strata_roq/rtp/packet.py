"""RTP packets (RFC 3550 §5.1) with RFC 8285 header extensions, zero-copy.

Every media packet Strata carries is RTP, so parsing must be cheap: :func:`parse_rtp`
returns a :class:`RtpPacket` whose payload is a ``memoryview`` into the received buffer, and
the ``peek_*`` helpers read single fields without building anything. Bad bytes raise
:class:`~strata_roq.errors.ParseError` and nothing else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from strata_roq.errors import ParseError

RTP_VERSION = 2
RTP_HEADER_SIZE = 12
ONE_BYTE_PROFILE = 0xBEDE          # RFC 8285 §4.2
TWO_BYTE_PROFILE_MASK = 0xFFF0     # RFC 8285 §4.3: 0x100 + 4-bit appbits
TWO_BYTE_PROFILE = 0x1000

_HEADER = struct.Struct(">BBHII")
_EXT_HEADER = struct.Struct(">HH")


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet; ``payload`` may be a memoryview into the buffer it was parsed from."""

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes | memoryview = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension_profile: int | None = None   # None: no header extension
    extension: bytes = b""                 # the raw extension body (multiple of 4 bytes)
    padding: int = 0                       # padding bytes to append (0 = none)

    def build(self) -> bytes:
        """Serialise; the inverse of :func:`parse_rtp`."""
        if len(self.csrc) > 15:
            raise ValueError("at most 15 CSRCs")
        if len(self.extension) % 4:
            raise ValueError("the header extension must be a multiple of 4 bytes")
        if not 0 <= self.padding <= 255:
            raise ValueError("padding must be 0..255 bytes")
        has_ext = self.extension_profile is not None
        first = (RTP_VERSION << 6) | (0x20 if self.padding else 0) | (0x10 if has_ext else 0) \
            | len(self.csrc)
        parts = [_HEADER.pack(first, (0x80 if self.marker else 0) | (self.payload_type & 0x7F),
                              self.sequence_number & 0xFFFF, self.timestamp & 0xFFFFFFFF,
                              self.ssrc & 0xFFFFFFFF)]
        if self.csrc:
            parts.append(struct.pack(f">{len(self.csrc)}I", *self.csrc))
        if has_ext:
            parts.append(_EXT_HEADER.pack(self.extension_profile, len(self.extension) // 4))
            parts.append(bytes(self.extension))
        parts.append(bytes(self.payload))
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)

    # -- RFC 8285 header extension elements --------------------------------------------
    def extensions(self) -> list[tuple[int, bytes]]:
        """The extension elements as ``(id, data)``; ``[]`` without an RFC 8285 block."""
        return parse_extension_elements(self.extension_profile, self.extension)

    def set_extensions(self, elements: list[tuple[int, bytes]], two_byte: bool | None = None) -> None:
        """Replace the extension block with RFC 8285 elements (one-byte form when possible)."""
        self.extension_profile, self.extension = build_extension_elements(elements, two_byte)


def parse_rtp(data: bytes | bytearray | memoryview) -> RtpPacket:
    """Parse one RTP packet without copying its payload."""
    n = len(data)
    if n < RTP_HEADER_SIZE:
        raise ParseError(f"RTP packet of {n} bytes is shorter than its 12-byte header")
    first, second, seq, ts, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise ParseError(f"RTP version {first >> 6}, expected 2")
    offset = RTP_HEADER_SIZE
    cc = first & 0x0F
    csrc: tuple[int, ...] = ()
    if cc:
        if n < offset + 4 * cc:
            raise ParseError("RTP CSRC list runs past the packet")
        csrc = struct.unpack_from(f">{cc}I", data, offset)
        offset += 4 * cc
    profile = None
    extension = b""
    if first & 0x10:
        if n < offset + 4:
            raise ParseError("RTP extension header runs past the packet")
        profile, words = _EXT_HEADER.unpack_from(data, offset)
        offset += 4
        if n < offset + 4 * words:
            raise ParseError("RTP header extension runs past the packet")
        extension = bytes(data[offset:offset + 4 * words])
        offset += 4 * words
    end = n
    padding = 0
    if first & 0x20:
        padding = data[n - 1]
        if padding == 0 or offset + padding > n:
            raise ParseError(f"RTP padding length {padding} is invalid")
        end -= padding
    view = memoryview(data)[offset:end]
    return RtpPacket(second & 0x7F, seq, ts, ssrc, view, bool(second & 0x80), csrc, profile,
                     extension, padding)


def parse_extension_elements(profile: int | None, body: bytes) -> list[tuple[int, bytes]]:
    """RFC 8285 elements of an extension block (one-byte or two-byte header form)."""
    if profile is None:
        return []
    out: list[tuple[int, bytes]] = []
    i, n = 0, len(body)
    if profile == ONE_BYTE_PROFILE:
        while i < n:
            b = body[i]
            if b == 0:  # padding
                i += 1
                continue
            ident, length = b >> 4, (b & 0x0F) + 1
            if ident == 15:  # reserved: stop processing (RFC 8285 §4.2)
                break
            if i + 1 + length > n:
                raise ParseError("RTP one-byte extension element runs past its block")
            out.append((ident, bytes(body[i + 1:i + 1 + length])))
            i += 1 + length
    elif profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
        while i < n:
            if body[i] == 0:
                i += 1
                continue
            if i + 2 > n:
                raise ParseError("RTP two-byte extension element header runs past its block")
            ident, length = body[i], body[i + 1]
            if i + 2 + length > n:
                raise ParseError("RTP two-byte extension element runs past its block")
            out.append((ident, bytes(body[i + 2:i + 2 + length])))
            i += 2 + length
    return out


def build_extension_elements(elements: list[tuple[int, bytes]],
                             two_byte: bool | None = None) -> tuple[int, bytes]:
    """(profile, body) for RFC 8285 elements, padded to 32 bits."""
    if two_byte is None:
        two_byte = any(not 1 <= i <= 14 or not 1 <= len(d) <= 16 for i, d in elements)
    out = bytearray()
    for ident, data in elements:
        if two_byte:
            if not 1 <= ident <= 255 or len(data) > 255:
                raise ValueError(f"two-byte extension element id {ident}/length {len(data)} out of range")
            out += bytes([ident, len(data)]) + data
        else:
            if not 1 <= ident <= 14 or not 1 <= len(data) <= 16:
                raise ValueError(f"one-byte extension element id {ident}/length {len(data)} out of range")
            out += bytes([(ident << 4) | (len(data) - 1)]) + data
    out += bytes(-len(out) % 4)
    return (TWO_BYTE_PROFILE if two_byte else ONE_BYTE_PROFILE), bytes(out)


# -- hot-path peeks (no objects) --------------------------------------------------------
def is_rtcp(data: bytes | memoryview) -> bool:
    """RFC 5761 §4 demultiplexing: payload-type byte 192..223 means RTCP."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def peek_seq(data: bytes | memoryview) -> int:
    if len(data) < 4:
        raise ParseError("too short for an RTP sequence number")
    return (data[2] << 8) | data[3]


def peek_timestamp(data: bytes | memoryview) -> int:
    if len(data) < 8:
        raise ParseError("too short for an RTP timestamp")
    return int.from_bytes(data[4:8], "big")


def peek_ssrc(data: bytes | memoryview) -> int:
    if len(data) < 12:
        raise ParseError("too short for an RTP SSRC")
    return int.from_bytes(data[8:12], "big")


def payload_bounds(data: bytes | memoryview) -> tuple[int, int]:
    """(start, end) of the payload within ``data``; validates like :func:`parse_rtp`."""
    n = len(data)
    if n < RTP_HEADER_SIZE or data[0] >> 6 != RTP_VERSION:
        raise ParseError("not an RTP packet")
    start = RTP_HEADER_SIZE + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if n < start + 4:
            raise ParseError("RTP extension header runs past the packet")
        start += 4 + 4 * ((data[start + 2] << 8) | data[start + 3])
    end = n
    if data[0] & 0x20:
        if n == 0 or data[n - 1] == 0:
            raise ParseError("RTP padding length 0")
        end -= data[n - 1]
    if start > end:
        raise ParseError("RTP header and padding overlap")
    return start, end
