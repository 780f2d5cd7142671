"""The small binary header in front of every media frame a browser receives.

One WebTransport unidirectional stream carries one frame: this 28-byte header, then the
frame (an H.264 Annex-B access unit, one AAC ADTS frame or one bare Opus packet), then FIN.
The page reads the header with a DataView; the capture time lets it measure glass-to-glass
latency.

    0  u8   magic 0x53 ('S')
    1  u8   version (1)
    2  u8   kind: 0 video, 1 audio
    3  u8   flags: bit 0 key frame, bit 1 catch-up (sent to a joining viewer from the
            current GOP: decode it, but it is not live — no latency sample)
    4  u32  index (per kind, counts frames the gateway saw)
    8  i64  presentation time, µs (from the PES PTS, 90 kHz unwrapped)
    16 i64  capture time, µs since the Unix epoch (0 when the frame carries no stamp)
    24 u32  the source's own frame number from its stamp (0xFFFFFFFF: none) — lets a
            viewer (and the tests) name exactly which frames it got

In **datagram mode** (a viewer that asks for ``?mode=datagram``) the same header + frame is
cut into WebTransport datagrams, each with its own 12-byte fragment header — nothing is
retransmitted, a frame with a fragment missing is dropped by the page:

    0  u8   magic 0x44 ('D')
    1  u8   version (1)
    2  u16  fragment number (0-based)
    4  u16  fragments in the frame
    6  u16  reserved (0)
    8  u32  frame sequence (per viewer)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from strata_roq.errors import ParseError

MAGIC = 0x53
VERSION = 1
VIDEO, AUDIO = 0, 1
FLAG_KEY = 0x01
FLAG_CATCHUP = 0x02
HEADER = struct.Struct(">BBBBIqqI")
NO_INDEX = 0xFFFFFFFF


@dataclass(slots=True)
class WebFrame:
    kind: int
    key: bool
    index: int
    pts_us: int
    capture_us: int
    data: bytes
    source_index: int = NO_INDEX
    #: False for a picture nothing references (H.264 ``nal_ref_idc == 0``, AV1 stored in no
    #: reference slot): a joining viewer's catch-up leaves it out. Not on the wire.
    reference: bool = True

    def encode(self, index: int | None = None, flags: int = 0) -> bytes:
        """Header and frame; ``index`` in place of the frame's own, ``flags`` added."""
        return HEADER.pack(MAGIC, VERSION, self.kind, (FLAG_KEY if self.key else 0) | flags,
                           (self.index if index is None else index) & 0xFFFFFFFF, self.pts_us,
                           self.capture_us, self.source_index & 0xFFFFFFFF) + self.data


def decode_frame(buf: bytes) -> WebFrame:
    if len(buf) < HEADER.size:
        raise ParseError(f"frame of {len(buf)} bytes is shorter than its {HEADER.size}-byte header")
    magic, version, kind, flags, index, pts, capture, source = HEADER.unpack_from(buf)
    if magic != MAGIC or version != VERSION or kind not in (VIDEO, AUDIO):
        raise ParseError(f"not a Strata web frame (magic {magic:#x}, version {version}, kind {kind})")
    return WebFrame(kind, bool(flags & FLAG_KEY), index, pts, capture, bytes(buf[HEADER.size:]),
                    source)


FRAGMENT = struct.Struct(">BBHHHI")
FRAGMENT_MAGIC = 0x44
#: Bytes of a QUIC packet a fragment's frame bytes leave for the rest: short header, AEAD
#: tag, DATAGRAM frame, HTTP/3 quarter stream id and FRAGMENT.
FRAGMENT_OVERHEAD = 100
#: Bytes of frame per datagram in a QUIC packet of 1200 bytes (the protocol's minimum).
FRAGMENT_PAYLOAD = 1200 - FRAGMENT_OVERHEAD


def fragments(encoded: bytes, sequence: int, size: int = FRAGMENT_PAYLOAD) -> list[bytes]:
    """An encoded frame (header + frame) cut into datagram payloads."""
    count = max(1, -(-len(encoded) // size))
    if count > 0xFFFF:
        raise ValueError(f"a frame of {len(encoded)} bytes needs more than 65535 datagrams")
    seq = sequence & 0xFFFFFFFF
    return [FRAGMENT.pack(FRAGMENT_MAGIC, VERSION, i, count, 0, seq) +
            encoded[i * size:(i + 1) * size] for i in range(count)]


class Reassembler:
    """Puts datagram-mode frames back together (what the page does, for Python viewers):
    :meth:`add` takes one datagram payload and returns the encoded frame it completed."""

    def __init__(self) -> None:
        self._parts: dict[int, list] = {}       # frame sequence -> its slices so far

    def add(self, datagram: bytes) -> bytes | None:
        if len(datagram) < FRAGMENT.size:
            return None
        magic, version, number, count, _, seq = FRAGMENT.unpack_from(datagram)
        if magic != FRAGMENT_MAGIC or version != VERSION or number >= count:
            return None
        parts = self._parts.get(seq)
        if parts is None:
            if len(self._parts) >= 64:          # slices of frames that will never complete
                del self._parts[next(iter(self._parts))]
            parts = self._parts[seq] = [None] * count
        if len(parts) != count:
            return None
        parts[number] = datagram[FRAGMENT.size:]
        if any(p is None for p in parts):
            return None
        del self._parts[seq]
        return b"".join(parts)
