"""RaptorQ (RFC 6330, the ``raptorq`` package) over a block of RTP packets.

Each source packet sits in its own fixed-size *slot* — a 2-byte length, the packet, zero
padding up to the symbol size — so the code's systematic source symbols *are* the packets:
the receiver turns every packet that did arrive into its symbol, and only the repair symbols
travel as extra bytes. Any ``k`` symbols (rarely ``k + 1``) rebuild the block. Rateless: ask
the same :class:`BlockEncoder` for more repair symbols at any time (new ESIs, e.g. a top-up
on surviving paths when a path dies mid-block).

Repair packets carry a small header (:class:`RepairHeader`) naming the block's source
packets by RTP sequence number (first seq + a bitmap over a span), so blocks need not be
consecutive in sequence space (unequal protection groups packets by class).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import raptorq

from strata_roq.errors import ParseError

ALIGN = 8                 # raptorq's symbol alignment
#: Below this, ``raptorq``'s defaults pick a different symbol size than asked (measured: all
#: sizes ≤ 56 bytes), which would break the slot ↔ symbol mapping.
MIN_SYMBOL = 64
MAX_K = 128               # source packets per block (one RaptorQ source block)
_PAYLOAD_ID = 4           # SBN (1 byte) + ESI (3 bytes), RFC 6330 §3.2


def slot_size(longest: int) -> int:
    """Symbol size holding a 2-byte length and a packet of ``longest`` bytes."""
    return max(MIN_SYMBOL, -(-(longest + 2) // ALIGN) * ALIGN)


def to_slot(packet: bytes, size: int) -> bytes:
    if len(packet) + 2 > size:
        raise ValueError(f"packet of {len(packet)} bytes does not fit a {size}-byte slot")
    return len(packet).to_bytes(2, "big") + packet + bytes(size - 2 - len(packet))


def from_slot(slot: bytes) -> bytes | None:
    n = int.from_bytes(slot[:2], "big")
    if n == 0 or n + 2 > len(slot) or any(slot[2 + n:]):
        return None      # not a packet this encoder wrote: refuse rather than guess
    return bytes(slot[2:2 + n])


class BlockEncoder:
    """Repair symbols for one block of source packets."""

    def __init__(self, packets: list[bytes]) -> None:
        if not 0 < len(packets) <= MAX_K:
            raise ValueError(f"a block holds 1..{MAX_K} packets, not {len(packets)}")
        self.k = len(packets)
        size = self.symbol_size = slot_size(max(map(len, packets)))
        slots = []                                # zero padding comes from bytes(n)
        for p in packets:
            n = len(p)
            slots += (n.to_bytes(2, "big"), p, bytes(size - 2 - n))
        data = b"".join(slots)
        self._encoder = raptorq.Encoder.with_defaults(data, self.symbol_size + _PAYLOAD_ID)
        self.repairs_made = 0

    def repair(self, count: int) -> list[bytes]:
        """``count`` new repair symbols (RaptorQ payload id + symbol), never repeating one."""
        if count <= 0:
            return []
        total = self.repairs_made + count
        packets = self._encoder.get_encoded_packets(total)
        self.repairs_made = total
        return [bytes(p) for p in packets[self.k + total - count:]]


class BlockDecoder:
    """Collects a block's source packets and repair symbols; rebuilds the missing packets."""

    def __init__(self, k: int, symbol_size: int) -> None:
        if not 0 < k <= MAX_K or symbol_size % ALIGN or symbol_size < MIN_SYMBOL:
            raise ValueError(f"bad block shape k={k} symbol size={symbol_size}")
        self.k = k
        self.symbol_size = symbol_size
        self._decoder = raptorq.Decoder.with_defaults(k * symbol_size,
                                                      symbol_size + _PAYLOAD_ID)
        self.sources: dict[int, bytes] = {}
        self.symbols = 0
        self.rejected = 0          # symbols the decoder refused (a panic in raptorq)
        self.result: list[bytes | None] | None = None

    def add_source(self, index: int, packet: bytes) -> list[tuple[int, bytes]]:
        """A source packet that arrived (its index in the block)."""
        if not 0 <= index < self.k or index in self.sources:
            return []
        self.sources[index] = packet
        if self.result is not None or len(packet) + 2 > self.symbol_size:
            return []
        head = bytes((0,)) + index.to_bytes(3, "big")
        return self._feed(head + to_slot(packet, self.symbol_size))

    def add_repair(self, symbol: bytes) -> list[tuple[int, bytes]]:
        """A repair symbol (payload id + symbol bytes); returns ``(index, packet)`` for every
        source packet rebuilt by it (once, when the block becomes decodable)."""
        if self.result is not None or len(symbol) != self.symbol_size + _PAYLOAD_ID:
            return []
        if symbol[0] != 0 or int.from_bytes(symbol[1:4], "big") < self.k:
            return []       # only repair ESIs of source block 0 travel as repair
        return self._feed(symbol)

    @property
    def complete(self) -> bool:
        return self.result is not None or len(self.sources) == self.k

    def _feed(self, packet: bytes) -> list[tuple[int, bytes]]:
        self.symbols += 1
        try:
            data = self._decoder.decode(packet)
        except BaseException as exc:  # noqa: BLE001 - raptorq panics surface as BaseException
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            self.rejected += 1
            return []
        if data is None:
            return []
        size = self.symbol_size
        self.result = [from_slot(data[i * size:(i + 1) * size]) for i in range(self.k)]
        rebuilt = []
        for i, packet in enumerate(self.result):
            if i in self.sources:
                continue
            if packet is not None:
                rebuilt.append((i, packet))
        return rebuilt


_HEADER = struct.Struct(">BHHBBH")   # type, block, first seq, k, span, symbol size
REPAIR_TYPE = 0xF1          # a RaptorQ repair symbol follows
XOR_TYPE = 0xF2             # an XOR parity (xor.parity) of the named packets follows


@dataclass(frozen=True, slots=True)
class RepairHeader:
    """Which RTP packets a repair symbol protects: ``first_seq`` and a bitmap over ``span``
    sequence numbers (k bits set), plus the block id and symbol size (0 for XOR parity)."""

    block: int
    first_seq: int
    seqs: tuple[int, ...]
    symbol_size: int
    kind: int = REPAIR_TYPE

    def encode(self) -> bytes:
        span = (self.seqs[-1] - self.first_seq) % 65536 + 1
        if span > 255:
            raise ValueError("a block spans at most 255 sequence numbers")
        bitmap = 0
        for s in self.seqs:
            bitmap |= 1 << ((s - self.first_seq) % 65536)
        return _HEADER.pack(self.kind, self.block & 0xFFFF, self.first_seq & 0xFFFF,
                            len(self.seqs), span, self.symbol_size) + \
            bitmap.to_bytes(-(-span // 8), "little")

    @classmethod
    def parse(cls, data: bytes) -> tuple["RepairHeader", bytes]:
        """``(header, repair symbol)``; ParseError for anything malformed."""
        if len(data) < _HEADER.size:
            raise ParseError("repair packet shorter than its header")
        kind, block, first, k, span, size = _HEADER.unpack_from(data)
        if kind not in (REPAIR_TYPE, XOR_TYPE):
            raise ParseError(f"not a repair packet (type {kind:#x})")
        bad_size = size != 0 if kind == XOR_TYPE else (size % ALIGN or size < MIN_SYMBOL)
        if not 0 < k <= min(span, MAX_K) or bad_size:
            raise ParseError(f"bad repair block shape k={k} span={span} symbol={size}")
        end = _HEADER.size + -(-span // 8)
        if len(data) < end:
            raise ParseError("repair packet ends inside its bitmap")
        bitmap = int.from_bytes(data[_HEADER.size:end], "little")
        seqs = tuple((first + i) % 65536 for i in range(span) if bitmap >> i & 1)
        if len(seqs) != k or bitmap >> span:
            raise ParseError("repair bitmap does not match its packet count")
        return cls(block, first, seqs, size, kind), data[end:]
