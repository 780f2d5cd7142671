"""The receiving side of RaptorQ FEC, sans-I/O: media packets and repair packets in, rebuilt
media packets out.

Repair packets (:mod:`strata_roq.fec.packets`) are RTP packets of their own whose payload
is a :class:`~strata_roq.fec.raptor.RepairHeader` and a RaptorQ symbol. The header names the
block's source packets by RTP sequence number; sources that arrived before any repair are
found in a short history of recent media packets, so order does not matter. A block yields
its missing packets once, as soon as enough symbols are in; malformed repair packets are
counted and dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from strata_roq.errors import ParseError
from strata_roq.fec.packets import FEC_PAYLOAD_TYPE, is_repair  # noqa: F401 - re-exported
from strata_roq.fec.raptor import XOR_TYPE, BlockDecoder, RepairHeader
from strata_roq.fec.xor import recover

HISTORY = 4096           # media packets remembered for blocks whose repair comes later
BLOCKS = 512             # blocks in progress remembered


@dataclass
class FecReceiverStats:
    repair_packets: int = 0
    malformed: int = 0
    blocks: int = 0
    recovered: int = 0           # media packets rebuilt
    complete_without_repair: int = 0
    rejected_symbols: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class _Block:
    __slots__ = ("header", "decoder", "index", "done")

    def __init__(self, header: RepairHeader) -> None:
        self.header = header
        self.decoder = BlockDecoder(len(header.seqs), header.symbol_size)
        self.index = {s: i for i, s in enumerate(header.seqs)}
        self.done = False


class _XorBlock:
    """An XOR group still missing two or more packets: waits for all but one."""

    __slots__ = ("header", "parity", "done")

    def __init__(self, header: RepairHeader, parity: bytes) -> None:
        self.header = header
        self.parity = parity
        self.done = False


class FecReceiver:
    def __init__(self) -> None:
        self.stats = FecReceiverStats()
        self._history: OrderedDict[int, bytes] = OrderedDict()     # RTP seq -> packet
        self._blocks: OrderedDict[int, _Block] = OrderedDict()     # block id -> block
        self._waiting: dict[int, list[_Block]] = {}                # RTP seq -> blocks

    def on_media(self, seq: int, packet: bytes) -> list[bytes]:
        """A media packet arrived (or was rebuilt); returns packets rebuilt thanks to it."""
        history = self._history
        history[seq] = packet
        history.move_to_end(seq)
        if len(history) > HISTORY:
            history.popitem(last=False)
        out: list[bytes] = []
        for block in self._waiting.pop(seq, ()):
            out += self._add_source(block, seq, packet)
        return out

    def on_repair(self, packet: bytes) -> list[bytes]:
        """A repair RTP packet; returns the media packets it lets us rebuild."""
        self.stats.repair_packets += 1
        try:
            header, symbol = RepairHeader.parse(packet[12:])
        except ParseError:
            self.stats.malformed += 1
            return []
        if header.kind == XOR_TYPE:
            return self._on_parity(header, symbol)
        block = self._blocks.get(header.block)
        if block is not None and block.header != header:
            block = None                        # a block id reused (wrapped): start afresh
        if block is None:
            try:
                block = _Block(header)
            except ValueError:
                self.stats.malformed += 1
                return []
            self._remember(header.block, block)
            out = []
            for seq in header.seqs:
                known = self._history.get(seq)
                if known is not None:
                    out += self._add_source(block, seq, known)
                else:
                    self._waiting.setdefault(seq, []).append(block)
            if block.done:
                return out
        else:
            out = []
        if block.done:
            return out
        before = block.decoder.rejected
        rebuilt = block.decoder.add_repair(symbol)
        self.stats.rejected_symbols += block.decoder.rejected - before
        return out + self._rebuilt(block, rebuilt)

    def _on_parity(self, header: RepairHeader, parity: bytes) -> list[bytes]:
        """Cross-path XOR: the one missing packet of the group, if exactly one is missing
        (if none is yet, the parity waits for a late loss in the block list)."""
        received = [self._history.get(s) for s in header.seqs]
        missing = [s for s, p in zip(header.seqs, received) if p is None]
        if len(missing) != 1:
            if len(missing) > 1:
                block = _XorBlock(header, parity)
                self._remember(header.block, block)
                for seq in missing:
                    self._waiting.setdefault(seq, []).append(block)
            return []
        return self._xor_rebuild(header, received, parity)

    def _xor_rebuild(self, header, received, parity) -> list[bytes]:
        packet = recover(received, parity)
        seq = header.seqs[received.index(None)]
        if packet is None or len(packet) < 12 or (packet[2] << 8 | packet[3]) != seq:
            self.stats.malformed += 1
            return []
        self._history[seq] = packet
        self.stats.recovered += 1
        return [packet]

    def _remember(self, block_id: int, block) -> None:
        self._blocks[block_id] = block
        self.stats.blocks += 1
        while len(self._blocks) > BLOCKS:
            _, old = self._blocks.popitem(last=False)
            for seq in old.header.seqs:
                waiting = self._waiting.get(seq)
                if waiting and old in waiting:
                    waiting.remove(old)
                    if not waiting:
                        del self._waiting[seq]

    def _add_source(self, block, seq: int, packet: bytes) -> list[bytes]:
        if block.done:
            return []
        if isinstance(block, _XorBlock):
            received = [self._history.get(s) for s in block.header.seqs]
            if received.count(None) != 1:
                return []
            block.done = True
            return self._xor_rebuild(block.header, received, block.parity)
        rebuilt = block.decoder.add_source(block.index[seq], packet)
        if block.decoder.complete and not rebuilt and len(block.decoder.sources) == block.decoder.k:
            block.done = True
            self.stats.complete_without_repair += 1
            return []
        return self._rebuilt(block, rebuilt)

    def _rebuilt(self, block: _Block, rebuilt: list[tuple[int, bytes]]) -> list[bytes]:
        if block.decoder.result is None:
            return []
        block.done = True
        out = []
        for index, packet in rebuilt:
            seq = block.header.seqs[index]
            if seq in self._history:
                continue
            # a rebuilt packet must be the packet it stands for: RTP, with that sequence
            if len(packet) < 12 or (packet[2] << 8 | packet[3]) != seq:
                self.stats.malformed += 1
                continue
            self._history[seq] = packet
            out.append(packet)
        self.stats.recovered += len(out)
        return out
