"""The scheduler interface every multipath policy shares, so the benchmark can swap them.

A scheduler answers two questions for the bonded sender: which queued packet goes next
(:meth:`Scheduler.sort_key`, FIFO unless a policy says otherwise) and where it goes
(:meth:`Scheduler.choose`: zero paths = discard, one = dispatch, several = duplicate). It
sees :class:`~strata_roq.multipath.path.Path` estimates, the bytes already assigned to
each path but not yet sent and, where its order lets a class of packets overtake the rest
(:meth:`Scheduler.overtakes`), the bytes a packet would actually wait behind; every decision
carries a reason the sender counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from strata_roq.multipath.path import Path


@dataclass(slots=True)
class SchedPacket:
    seq: int                 # session-wide sequence number (the receiver de-duplicates on it)
    size: int
    frame: int               # media frame index
    deadline: float          # absolute time by which it must arrive
    priority: int = 3        # MediaFrame priority: 7 key frame, 6 audio/PSI, 3 P, 1 disposable
    reliable: bool = False   # STORM's reliable queue: key frames, audio, PSI
    key: bool = False
    gop: int = 0
    enqueued: float = 0.0
    retransmission: bool = False
    repair: bool = False     # FEC repair symbol: redundancy, never retransmitted itself
    path: int | None = None  # pinned to this path (cross-path XOR) while it is alive
    avoid: int | None = None  # a retransmission: the path its original fell silent on


@dataclass(slots=True)
class Decision:
    paths: list[int] = field(default_factory=list)
    reason: str = "dispatch"


class Scheduler:
    """Base class: FIFO order, no decision (subclasses implement :meth:`choose`)."""

    name = "base"
    #: Whether :meth:`sort_key` depends on the time it is computed (an urgency that grows
    #: as the deadline nears): the sender then re-scores a path's queue whenever packets
    #: join it, so keys computed at different times are never compared.
    scores_age = False
    #: Whether the sender asks :meth:`rescues` about packets whose acknowledgement is overdue
    #: (it then watches every packet sent, and wakes when one's acknowledgement is due).
    rescue_overdue = False

    def sort_key(self, packet: SchedPacket, now: float):
        return (packet.seq,)

    def overtakes(self, packet: SchedPacket) -> bool:
        """Whether ``packet`` goes ahead of every queued packet for which this is False
        (STORM's reliable queue). The sender then tells :meth:`choose` what waits ahead of
        it: only the bytes of packets that overtake too."""
        return False

    def rescues(self, packet: SchedPacket, on: int, paths: list[Path], queued: list[int],
                now: float) -> bool:
        """Whether ``packet``, whose acknowledgement is overdue on path ``on`` and whose repair
        after a loss timeout would come too late, gets a copy on another path now
        (reinjection). The classic schedulers wait for the timeout."""
        return False

    def choose(self, packet: SchedPacket, paths: list[Path], queued: list[int],
               now: float, ahead: list[int] | None = None) -> Decision:
        """``queued``: bytes assigned to each path and not yet sent; ``ahead``: of those,
        the bytes ``packet`` would wait behind (None: all of them)."""
        raise NotImplementedError

    # helpers shared by policies -------------------------------------------------------
    @staticmethod
    def alive(paths: list[Path]) -> list[Path]:
        return [p for p in paths if p.alive]

    @staticmethod
    def earliest(packet: SchedPacket, paths: list[Path], queued: list[int],
                 now: float) -> list[tuple[float, Path]]:
        """(predicted arrival, path) for every live path, soonest first."""
        return sorted(((p.predict_arrival(packet.size, now, queued[p.index]), p)
                       for p in paths if p.alive), key=lambda ap: ap[0])
