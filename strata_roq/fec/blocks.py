"""FEC for the bonded sender, sans-I/O: which packets form a block, how much repair each
block gets, top-ups when a path dies, and whether a loss still needs ARQ.

:class:`FecSender` sits beside :class:`~strata_roq.multipath.bonding.BondedSender`. Source
packets are grouped per protection class into blocks bounded in time (``window``, a slice of
the latency budget) and size; key frames close their block at the frame's end. When a block
closes, the :class:`~strata_roq.fec.policy.ProtectionPolicy` decides its repair count from
per-path Gilbert-Elliott estimates (fed by the sender's acknowledgements and losses over the
last ~5 s) and burst detectors; the repair packets are ordinary scheduler packets marked
``repair`` (never retransmitted themselves). The sender tells it what went where
(:meth:`on_sent`) and what became of it (:meth:`on_outcome`), so it knows per block what was
delivered, lost and still in flight:

- **FEC then ARQ** (:meth:`covers`): a lost source packet is not retransmitted while the
  block's delivered + in-flight symbols still reach ``k`` — the receiver will rebuild it;
  otherwise ARQ may try, if a path can still make the deadline.
- **Top-up** (:meth:`top_up`): when a path dies mid-block, its in-flight symbols of blocks
  still due are replaced by as many *new* repair symbols (rateless), which the scheduler puts
  on the survivors.

Mode ``xor`` groups ``k = live paths − 1`` consecutive packets and pins one to each path and
their XOR parity to the remaining one, rotating the parity path group by group.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from strata_roq.fec.gilbert import BurstDetector, GilbertElliott
from strata_roq.fec.policy import ProtectionPolicy
from strata_roq.fec.raptor import MAX_K

MAX_SPAN = 255           # sequence numbers one repair header can name
#: Repair packets take scheduler sequence numbers from here up: never a media packet's, and
#: sorted after media of the same urgency.
REPAIR_SEQ_BASE = 1 << 40
from strata_roq.sched.base import SchedPacket


def packet_class(packet: SchedPacket) -> str:
    if packet.key:
        return "key"
    if packet.reliable:
        return "audio"      # audio and PSI ride the reliable queue with no key flag
    return "delta"


@dataclass
class Block:
    id: int
    cls: str
    opened: float
    deadline: float
    seqs: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    repair_seqs: list[int] = field(default_factory=list)
    closed: bool = False
    delivered: set[int] = field(default_factory=set)
    lost: set[int] = field(default_factory=set)
    in_flight: Counter = field(default_factory=Counter)   # path → symbols sent, unresolved
    parity_path: int | None = None
    skipped: list = field(default_factory=list)           # lost sources left to FEC
    encoder: object = None                                # the owner's byte-level coder

    @property
    def k(self) -> int:
        return len(self.seqs)

    def expected(self) -> int:
        """Symbols delivered or still on their way."""
        return len(self.delivered) + sum(self.in_flight.values())


class FecSender:
    def __init__(self, policy: ProtectionPolicy, paths: int, next_seq: Callable[[], int], *,
                 window: float = 0.1, max_k: int = 64) -> None:
        self.policy = policy
        self.next_seq = next_seq
        self.window = window
        self.max_k = min(max_k, MAX_K)
        self.estimators = [GilbertElliott() for _ in range(paths)]
        self.bursts = [BurstDetector() for _ in range(paths)]
        self.blocks: dict[int, Block] = {}
        self.block_of: dict[int, Block] = {}
        self.open: dict[str, Block] = {}
        self.counters: Counter[str] = Counter()
        self._ids = 0
        self._forgot_at = float("-inf")
        self._xor_group: list[SchedPacket] = []
        #: indices of live paths (set by the owner each time it knows; None = all)
        self.live: list[int] | None = None
        #: () -> spare capacity as a fraction of the media rate (None: unknown, no cap)
        self.headroom: Callable[[], float] | None = None
        #: (block, repair packets) -> None: called for every batch of repair packets made,
        #: so an owner that carries bytes can build them (RaptorQ symbols) and set sizes.
        self.on_repairs: Callable[[Block, list[SchedPacket]], None] | None = None
        #: (deadline) -> live paths that can still deliver by then; repair symbols are
        #: spread over them in turn (path diversity: a burst on one path does not take the
        #: sources and their repair together). None: the scheduler places them.
        self.repair_paths: Callable[[float], list[int]] | None = None

    # -- grouping -----------------------------------------------------------------------
    def add(self, packet: SchedPacket, now: float, live: list[int]) -> list[SchedPacket]:
        """A source packet about to be pushed; returns repair packets now due (a full block,
        or an XOR group's parity). In ``xor`` mode it pins ``packet`` to its path."""
        if self.policy.mode == "off":
            return []
        self.live = live
        if self.policy.mode == "xor":
            return self._add_xor(packet, now, live)
        cls = packet_class(packet)
        block = self.open.get(cls)
        out: list[SchedPacket] = []
        if block is not None and packet.seq - block.seqs[0] >= MAX_SPAN:
            out = self._close(block, now)          # a repair header names ≤ 255 seqs
            block = None
        if block is None:
            block = self.open[cls] = self._new_block(cls, now, packet.deadline)
        self._join(block, packet)
        if len(block.seqs) >= self.max_k:
            out += self._close(block, now)
        return out

    def end_frame(self, key: bool, now: float) -> list[SchedPacket]:
        """A frame's packets are all added: a key frame's block closes now."""
        block = self.open.get("key")
        if key and block is not None:
            return self._close(block, now)
        return []

    def flush(self, now: float, force: bool = False) -> list[SchedPacket]:
        """Close blocks whose window has passed (an XOR group too: its parity goes out)."""
        out: list[SchedPacket] = []
        if self._xor_group and (force or now - self._xor_block.opened >= self.window):
            out += self.flush_xor(now)
        for block in list(self.open.values()):
            if force or now - block.opened >= self.window:
                out += self._close(block, now)
        return out

    def next_flush(self) -> float | None:
        times = [b.opened + self.window for b in self.open.values()]
        if self._xor_group:
            times.append(self._xor_block.opened + self.window)
        return min(times, default=None)

    def _new_block(self, cls: str, now: float, deadline: float) -> Block:
        self._ids += 1
        block = Block(self._ids, cls, now, deadline)
        self.blocks[block.id] = block
        return block

    def _join(self, block: Block, packet: SchedPacket) -> None:
        block.seqs.append(packet.seq)
        block.sizes.append(packet.size)
        block.deadline = min(block.deadline, packet.deadline)
        self.block_of[packet.seq] = block

    def _close(self, block: Block, now: float) -> list[SchedPacket]:
        self.open.pop(block.cls, None)
        block.closed = True
        models, carrying = self._models()
        burst = any(self.bursts[i].update(now) for i in carrying)
        headroom = self.headroom() if self.headroom is not None else None
        count = self.policy.repairs(block.k, block.cls, models, burst, headroom,
                                    sum(block.sizes) / block.k)
        self.counters["blocks"] += 1
        if burst:
            self.counters["burst_blocks"] += 1
        out = self._repairs(block, count, now)
        paths = self.repair_paths(block.deadline) if self.repair_paths is not None else []
        if len(paths) > 1:
            for n, repair in enumerate(out):
                repair.path = paths[(block.id + n) % len(paths)]
        return out

    def _repairs(self, block: Block, count: int, now: float,
                 path: int | None = None) -> list[SchedPacket]:
        out = []
        size = max(block.sizes) + 2 + 4 + 12      # slot + RaptorQ payload id + repair header
        for _ in range(count):
            seq = self.next_seq()
            block.repair_seqs.append(seq)
            self.block_of[seq] = block
            priority = 7 if block.cls == "key" else (6 if block.cls in ("audio", "psi") else 3)
            out.append(SchedPacket(seq, size, -block.id, block.deadline, priority,
                                   False, block.cls == "key", 0, now,
                                   repair=True, path=path))
        self.counters["repair_packets"] += len(out)
        if out and self.on_repairs is not None:
            self.on_repairs(block, out)
        return out

    def _models(self) -> tuple[list[tuple[float, float, float]], list[int]]:
        """(share, p, r) per live path that carried packets in the window (its share of
        them), and those paths' indices. Dead paths carry nothing new: their losses are the
        outage, not the channel the next block will see."""
        live = self.live if self.live is not None else range(len(self.estimators))
        carrying = [i for i in live if self.estimators[i].samples]
        total = sum(self.estimators[i].samples for i in carrying)
        if not total:
            e = self.estimators[0]
            return [(1.0, e.p, e.r)], []
        return [(self.estimators[i].samples / total, self.estimators[i].p, self.estimators[i].r)
                for i in carrying], carrying

    # -- cross-path XOR -------------------------------------------------------------------
    def _add_xor(self, packet: SchedPacket, now: float, live: list[int]) -> list[SchedPacket]:
        if len(live) < 2:
            packet.path = None                  # one path: nothing to code across
            return []
        group = self._xor_group
        k = len(live) - 1
        if not group:
            self._ids += 1
            self._xor_block = self._new_block("xor", now, packet.deadline)
            self._xor_block.parity_path = live[self._ids % len(live)]
        block = self._xor_block
        data_paths = [p for p in live if p != block.parity_path]
        packet.path = data_paths[len(group) % len(data_paths)]
        group.append(packet)
        self._join(block, packet)
        if len(group) < k:
            return []
        self._xor_group = []
        block.closed = True
        self.counters["blocks"] += 1
        return self._repairs(block, 1, now, path=block.parity_path)

    def flush_xor(self, now: float) -> list[SchedPacket]:
        """An incomplete XOR group at a frame's end gets its parity anyway (no waiting)."""
        if not self._xor_group:
            return []
        block = self._xor_block
        self._xor_group = []
        block.closed = True
        self.counters["blocks"] += 1
        return self._repairs(block, 1, now, path=block.parity_path)

    # -- feedback -------------------------------------------------------------------------
    def on_sent(self, path: int, packet: SchedPacket) -> None:
        block = self.block_of.get(packet.seq)
        if block is not None:
            block.in_flight[path] += 1

    def on_outcome(self, path: int, packet: SchedPacket, lost: bool, now: float) -> None:
        """Called for every packet acknowledged or declared lost, so kept lean."""
        self.estimators[path].observe(lost, now)
        self.bursts[path].observe(lost, now)
        seq = packet.seq
        block = self.block_of.get(seq)
        if block is None:
            return
        in_flight = block.in_flight
        if in_flight[path] > 0:
            in_flight[path] -= 1
        (block.lost if lost else block.delivered).add(seq)

    def covers(self, packet: SchedPacket) -> bool:
        """Whether the receiver can still rebuild ``packet`` from its block (no ARQ needed)."""
        block = self.block_of.get(packet.seq)
        if block is None or not block.repair_seqs or block.expected() < block.k:
            return False
        block.skipped.append(packet)
        return True

    def uncovered(self, packet: SchedPacket) -> list[SchedPacket]:
        """After a loss in ``packet``'s block: the sources earlier left to FEC, if the block
        can no longer rebuild them (they need ARQ after all)."""
        block = self.block_of.get(packet.seq)
        if block is None or not block.skipped or block.expected() >= block.k:
            return []
        out = [p for p in block.skipped if p.seq not in block.delivered]
        block.skipped = []
        return out

    def top_up(self, dead: int, now: float, reachable: Callable[[float], bool]) -> list[SchedPacket]:
        """Path ``dead`` died: for every block still due with symbols in flight on it, as
        many new repair symbols as it took with it (scheduled on the survivors)."""
        out: list[SchedPacket] = []
        for block in self.blocks.values():
            lost_here = block.in_flight.get(dead, 0)
            if not lost_here or not block.closed or block.expected() - lost_here >= block.k \
                    or len(block.delivered) >= block.k or not reachable(block.deadline):
                continue
            block.in_flight[dead] = 0
            need = block.k - (block.expected())
            out += self._repairs(block, need, now)
            self.counters["top_up"] += need
        return out

    def forget(self, now: float) -> None:
        """Drop blocks past their deadline (nothing about them matters any more); looks at
        most every 100 ms."""
        if now - self._forgot_at < 0.1:
            return
        self._forgot_at = now
        for bid in [b for b, blk in self.blocks.items() if blk.closed and blk.deadline < now - 1.0]:
            block = self.blocks.pop(bid)
            for s in block.seqs + block.repair_seqs:
                self.block_of.pop(s, None)


class BlockTracker:
    """The receiver's side of the count: a block whose received symbols (sources + repairs)
    reach ``k`` yields its missing sources. ``failure`` models RaptorQ's chance of needing
    one symbol more than ``k`` (RFC 6330: under 1 % at exactly k); XOR blocks never fail."""

    def __init__(self, rng=None, failure: float = 0.01) -> None:
        self.rng = rng
        self.failure = failure
        self._got: dict[int, set[int]] = {}
        self._done: set[int] = set()
        self.recovered = 0
        self.failures = 0

    def on_arrival(self, block: Block, seq: int) -> list[int]:
        """``seq`` of ``block`` arrived; returns the source seqs rebuilt now."""
        if block.id in self._done:
            return []
        got = self._got.setdefault(block.id, set())
        got.add(seq)
        if not block.closed:
            return []        # membership is known only from its repair headers, once closed
        missing = [s for s in block.seqs if s not in got]
        if not missing:
            self._done.add(block.id)
            self._got.pop(block.id, None)
            return []
        if len(got) < block.k:
            return []
        if block.cls != "xor" and len(got) == block.k and self.rng is not None \
                and self.rng.random() < self.failure:
            self.failures += 1
            return []
        self._done.add(block.id)
        self._got.pop(block.id, None)
        self.recovered += len(missing)
        return missing
