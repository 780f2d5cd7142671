"""Opus in MPEG-TS: the access units of a PES payload, and what each Opus packet holds.

In TS every Opus packet is preceded by a control header (the Opus-in-TS mapping, as FFmpeg
and GStreamer write it): an 11-bit prefix ``0x3FF``, flags (start trim, end trim, control
extension), the packet size coded like Ogg lacing (``0xFF`` bytes, then the rest), then the
optional fields. The browser's ``AudioDecoder`` wants the bare Opus packets, and
the page needs each packet's duration (from its TOC byte, RFC 6716 §3.1) to time them.
"""

from __future__ import annotations

RATE = 48_000                 # Opus always decodes at 48 kHz
_START_TRIM, _END_TRIM, _EXTENSION = 0x10, 0x08, 0x04
#: Frame length in 48 kHz samples by TOC configuration (RFC 6716 table 2): SILK 10/20/40/60
#: ms, hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
_FRAME_SAMPLES = [480, 960, 1920, 2880] * 3 + [480, 960] * 2 + [120, 240, 480, 960] * 4


def split_ts_opus(data: bytes) -> list[bytes]:
    """The Opus packets of one PES payload; stops at the first header that is not one
    (what came before it is kept)."""
    out, i, n = [], 0, len(data)
    while i + 3 <= n:
        if data[i] != 0x7F or data[i + 1] & 0xE0 != 0xE0:
            break
        flags = data[i + 1]
        i += 2
        size = 0
        while i < n:
            byte = data[i]
            i += 1
            size += byte
            if byte != 0xFF:
                break
        if flags & _START_TRIM:
            i += 2
        if flags & _END_TRIM:
            i += 2
        if flags & _EXTENSION:
            if i >= n:
                break
            i += 1 + data[i]
        if size == 0 or i + size > n:
            break
        out.append(data[i:i + size])
        i += size
    return out


def packet_samples(packet: bytes) -> int:
    """48 kHz samples in one Opus packet (0 if its frame count byte is missing)."""
    toc = packet[0]
    code = toc & 0x03
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    else:
        if len(packet) < 2:
            return 0
        frames = packet[1] & 0x3F
    return frames * _FRAME_SAMPLES[toc >> 3]


def packet_channels(packet: bytes) -> int:
    """1 or 2, from the TOC's stereo flag."""
    return 2 if packet[0] & 0x04 else 1
