"""The bonded sender, sans-I/O: one stream's packets spread over several paths.

``push(packet, now)`` queues a :class:`~strata_roq.sched.base.SchedPacket`; ``poll(now)``
returns the :class:`Transmission` s due now; ``on_feedback(path, acked, now)`` takes the
receiver's per-path acknowledgements (packet id, arrival time — what RFC 8888 CCFB carries).
In between it:

- asks the scheduler where each packet goes (dispatch / duplicate / discard / decompensate),
  in the scheduler's order, and keeps one send queue per path (sorted the same way);
- paces each path at its estimated delivery rate (× a probing gain while its one-way delay
  shows no queue) under an in-flight cap of about two BDPs — with ``cc`` (a controller of
  :mod:`strata_roq.cc` per path; ``vegas`` couples the paths), while a path shows a queue,
  no faster than its controller paces and no more in flight than its window;
- drops packets that can no longer arrive in time before they are sent;
- declares losses (three later packets acknowledged, or silence past an RTO) and
  retransmits a lost packet on the best path only if it can still make its deadline and no
  copy has arrived (ARQ after the scheduler's redundancy); a scheduler that rescues
  (:attr:`~strata_roq.sched.base.Scheduler.rescue_overdue`) is asked about a packet whose
  acknowledgement is overdue while its RTO would be too late for a repair, and may have it
  copied another way at once;
- marks a path dead after ~2 RTT of silence with data outstanding, and back on feedback.
Every decision is counted in :attr:`BondedSender.counters`.

With an FEC layer attached (:attr:`BondedSender.fec`, a :class:`~strata_roq.fec.blocks.
FecSender`), it reports what went where and what became of it, retransmits a lost packet
only when its block can no longer rebuild it (FEC then ARQ), never retransmits repair
symbols, keeps packets pinned to a path (cross-path XOR) on that path, and asks for rateless
top-up symbols when a path dies.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, deque
from dataclasses import dataclass

from strata_roq.multipath.path import Path
from strata_roq.sched.base import Decision, SchedPacket, Scheduler

MIN_PACKETS_IN_FLIGHT = 4
REORDER_THRESHOLD = 3
#: A dead path gets a copy of a recent packet this often, so it can answer and come back.
PROBE_INTERVAL = 0.1


def attach_controllers(paths: list[Path], cc: str, initial_rate: float, mtu: int) -> None:
    """Give every path a fresh controller named ``cc`` (see :data:`strata_roq.cc.CONTROLLERS`);
    ``vegas`` paths share one :class:`~strata_roq.cc.coupled.CoupledGroup` (coupled)."""
    from strata_roq.cc import make_controller
    from strata_roq.cc.coupled import CoupledGroup

    options: dict = {"initial_rate": initial_rate, "mss": mtu}
    if cc == "vegas":
        options["group"] = CoupledGroup()
    for p in paths:
        p.controller = make_controller(cc, **options)


@dataclass(slots=True)
class Transmission:
    path: int
    packet: SchedPacket
    id: int
    sent_at: float = 0.0
    probe: bool = False      # a copy sent only to see whether a dead path answers
    app_limited: bool = False  # the path's queue was empty once it left: media-limited
    rescued: bool = False    # a copy already went another way while its ACK was overdue


class BondedSender:
    def __init__(self, paths: list[Path], scheduler: Scheduler, *,
                 initial_rate: float = 250_000.0, probe_gain: float = 1.25,
                 queue_target: float = 0.010, feedback_interval: float = 0.02,
                 mtu: int = 1400, cc: str | None = None) -> None:
        for i, p in enumerate(paths):
            p.index = i
            p.rate_floor = initial_rate
            p.queue_target = queue_target
        if cc is not None and cc != "delivery":
            attach_controllers(paths, cc, initial_rate, mtu)
        self.cc = cc or "delivery"
        self.paths = paths
        self.scheduler = scheduler
        self.initial_rate = initial_rate
        self.probe_gain = probe_gain
        self.queue_target = queue_target
        self.feedback_interval = feedback_interval
        self.mtu = mtu
        self.counters: Counter[str] = Counter()
        self.bytes_sent = 0
        self._ids = itertools.count(1)
        self._pending: list[SchedPacket] = []
        self._queues: list[list] = [[] for _ in paths]          # heaps of (key, n, packet)
        self._queued_bytes = [0] * len(paths)
        self._queued_overtaking = [0] * len(paths)     # of which the scheduler sends first
        self._tokens = [float(mtu)] * len(paths)
        self._last_refill = [None] * len(paths)
        self._outstanding: list[deque[Transmission]] = [deque() for _ in paths]
        # Sent and not yet judged overdue (each is looked at once, when its ACK is late).
        self._watch: list[deque[Transmission]] = [deque() for _ in paths]
        self._by_id: dict[int, Transmission] = {}
        # Declared lost but possibly only late (an RTT beyond the first RTO, a long queue):
        # a late acknowledgement still measures the path and marks the packet delivered.
        self._declared_lost: dict[int, Transmission] = {}
        self._delivered: set[int] = set()                        # seqs some copy delivered
        self._delivered_order: deque[int] = deque()
        self._order = itertools.count()
        self._per_frame: Counter[int] = Counter()     # packets still queued, per frame
        self._last_probe = [0.0] * len(paths)
        self._recent: SchedPacket | None = None
        #: Optional FEC layer (duck-typed: on_sent, on_outcome, covers, uncovered, top_up).
        self.fec = None
        #: Called with a media packet that will not arrive: discarded by the scheduler,
        #: expired in a path's queue, or lost with no time left to repair it (a copy may
        #: still have gone another way: a hint, not a proof).
        self.on_gone = None

    # -- input ----------------------------------------------------------------------------
    def push(self, packet: SchedPacket, now: float) -> None:
        packet.enqueued = now
        self._pending.append(packet)
        self._per_frame[packet.frame] += 1

    def frame_queued(self, frame: int) -> bool:
        """Whether any packet of ``frame`` still waits here (not yet on any path)."""
        return self._per_frame.get(frame, 0) > 0

    def _unqueue(self, frame: int, n: int = 1) -> None:
        left = self._per_frame[frame] - n
        if left > 0:
            self._per_frame[frame] = left
        else:
            self._per_frame.pop(frame, None)

    # -- scheduling and pacing -------------------------------------------------------------
    def poll(self, now: float) -> list[Transmission]:
        for p in self.paths:
            was_alive = p.alive
            p.check_alive(now, feedback_interval=self.feedback_interval)
            if was_alive and not p.alive:
                self._evacuate(p, now)
                if self.fec is not None:
                    for repair in self.fec.top_up(p.index, now,
                                                  lambda d: self._reachable(d, now)):
                        self.push(repair, now)
        self._assign(now)
        out: list[Transmission] = []
        for p in self.paths:
            out += self._release(p, now) if p.alive else self._probe(p, now)
        return out

    def _probe(self, path: Path, now: float) -> list[Transmission]:
        """Dead paths carry only probes (a copy of a recent packet), until they answer."""
        i = path.index
        if not path.reachable or self._recent is None \
                or now - self._last_probe[i] < PROBE_INTERVAL:
            return []
        self._last_probe[i] = now
        t = Transmission(i, self._recent, next(self._ids), now, probe=True)
        self._by_id[t.id] = t
        self._outstanding[i].append(t)
        path.on_sent(self._recent.size, now)
        self.bytes_sent += self._recent.size
        self.counters["probe"] += 1
        return [t]

    def _assign(self, now: float) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        sort_key, overtakes = self.scheduler.sort_key, self.scheduler.overtakes
        pending.sort(key=lambda pk: sort_key(pk, now))
        joined: set[int] = set()
        for packet in pending:
            self._unqueue(packet.frame)
            if packet.seq in self._delivered:
                continue
            if packet.path is not None and self.paths[packet.path].alive:
                decision = Decision([packet.path], "pinned")
            else:
                decision = self.scheduler.choose(
                    packet, self._paths_for(packet), self._queued_bytes, now,
                    self._queued_overtaking if overtakes(packet) else None)
            self.counters[decision.reason] += 1
            if not decision.paths:
                self.counters["discarded"] += 1
                self._gone(packet)
                continue
            self._guard_watermark(packet, decision, now)
            if len(decision.paths) == 1:
                self.paths[decision.paths[0]].sole_copies += 1
            key = sort_key(packet, now)
            first = overtakes(packet)
            for index in decision.paths:
                heapq.heappush(self._queues[index], (key, next(self._order), packet))
                self._queued_bytes[index] += packet.size
                if first:
                    self._queued_overtaking[index] += packet.size
                self._per_frame[packet.frame] += 1
                joined.add(index)
        if self.scheduler.scores_age:
            # Keys from different times do not compare (an older packet scored when its
            # deadline was far would wait behind newer ones for ever): all are re-scored now.
            for index in joined:
                queue = [(sort_key(pk, now), n, pk) for _, n, pk in self._queues[index]]
                heapq.heapify(queue)
                self._queues[index] = queue

    def _paths_for(self, packet: SchedPacket) -> list[Path]:
        """A retransmission avoids the path its original was lost on to silence while
        another path lives: that path may be dying before it is declared dead (its loss
        timeout is shorter than its death timeout), and a repair sent there is lost again
        — a key frame's, at a modem's drop, twice over."""
        avoid = packet.avoid
        if avoid is None or not any(p.alive for p in self.paths if p.index != avoid):
            return self.paths
        return [p for p in self.paths if p.index != avoid]

    def _evacuate(self, path: Path, now: float) -> None:
        """``path`` just died: what waits in its queue goes back to the scheduler for the
        survivors. Without this a key frame queued on a modem that drops would wait there
        until the modem returned — long after its deadline. (What it has in flight is left
        to its RTO: declaring it all lost at once moved a LEO dish's whole window onto a
        narrow LTE link at each short handover, and the simulator lost more frames.)"""
        i = path.index
        queue, self._queues[i] = self._queues[i], []
        self._queued_bytes[i] = 0
        self._queued_overtaking[i] = 0
        for _, _, packet in queue:             # (still waiting: _per_frame stays as it is)
            if packet.seq in self._delivered:
                self._unqueue(packet.frame)
            else:
                self._pending.append(packet)
                self.counters["evacuated"] += 1

    def _guard_watermark(self, packet: SchedPacket, decision, now: float) -> None:
        """Whatever the policy: a path below its signal watermark never carries the sole
        copy while a healthy live path exists — the best healthy one is added."""
        if not all(self.paths[i].unreliable for i in decision.paths):
            return
        healthy = [p for p in self.paths if p.alive and not p.unreliable]
        if healthy:
            best = min(healthy, key=lambda p: p.predict_arrival(
                packet.size, now, self._queued_bytes[p.index]))
            decision.paths.append(best.index)
            self.counters["watermark_guard"] += 1

    def paths_in_time(self, size: int, deadline: float, now: float) -> list[int]:
        """Live paths that would deliver ``size`` more bytes, queued now, by ``deadline``."""
        return [p.index for p in self.paths if p.alive and
                p.predict_arrival(size, now, self._queued_bytes[p.index]) <= deadline]

    def backlog_seconds(self) -> float:
        """How long the least loaded live path takes to drain its queue (0 when one has
        nothing waiting): whether there is room anywhere for more (e.g. FEC repair). A
        full narrow path next to an idle wide one still leaves room."""
        waits = [self._queued_bytes[p.index] / p.rate() for p in self.paths if p.alive]
        return min(waits) if waits else 0.0

    def pacing_rate(self, path: Path) -> float:
        base = path.rate()
        # (a path showing a queue gets no probing gain: its controller, if any, caps the rate)
        return base * (self.probe_gain if path.owd_excess < self.queue_target else 1.0)

    def _release(self, path: Path, now: float) -> list[Transmission]:
        i = path.index
        queue = self._queues[i]
        rate = self.pacing_rate(path)
        last = self._last_refill[i]
        if last is not None:
            self._tokens[i] = min(self._tokens[i] + (now - last) * rate, 4.0 * self.mtu)
        self._last_refill[i] = now
        rtt = path.min_rtt if path.min_rtt != float("inf") else 0.1
        # Feedback arrives in batches: up to one interval's worth is sent but not yet known
        # to have arrived, so the window spans at least one feedback interval.
        window = max(rtt + self.queue_target, self.feedback_interval)
        cap = 2.0 * rate * window
        if path.capped():
            # its window is what the network holds; feedback comes in batches, so up to one
            # interval's worth more has arrived but is not yet known to have (BBR's
            # allowance for aggregated acknowledgements)
            cap = min(cap, path.controller.cwnd + rate * self.feedback_interval)
        cap = max(cap, MIN_PACKETS_IN_FLIGHT * self.mtu)
        out = []
        while queue and self._tokens[i] > 0 and path.in_flight < cap:
            _, _, packet = heapq.heappop(queue)
            self._queued_bytes[i] -= packet.size
            if self.scheduler.overtakes(packet):
                self._queued_overtaking[i] -= packet.size
            self._unqueue(packet.frame)
            if packet.seq in self._delivered:
                continue
            if now + path.owd > packet.deadline:       # would arrive late: never send it
                self.counters["expired"] += 1
                self._gone(packet)
                continue
            t = Transmission(i, packet, next(self._ids), now)
            self._by_id[t.id] = t
            self._outstanding[i].append(t)
            if self.scheduler.rescue_overdue:
                self._watch[i].append(t)
            self._recent = packet
            path.on_sent(packet.size, now)
            self._tokens[i] -= packet.size
            self.bytes_sent += packet.size
            self.counters["retransmitted" if packet.retransmission else "sent"] += 1
            if self.fec is not None:
                self.fec.on_sent(i, packet)
            out.append(t)
        if not queue:                 # nothing held back by pacing or the window
            for t in out:
                t.app_limited = True
        return out

    def next_timer(self, now: float) -> float | None:
        """When :meth:`poll` may next have work (pacing tokens, loss timers)."""
        times = []
        for p in self.paths:
            if not p.alive:
                if p.reachable:
                    times.append(max(now, self._last_probe[p.index] + PROBE_INTERVAL))
            elif self._queues[p.index]:
                deficit = max(0.0, -self._tokens[p.index]) + 1.0
                times.append(now + deficit / self.pacing_rate(p))
            if self._outstanding[p.index]:
                times.append(self._outstanding[p.index][0].sent_at + self._rto(p))
            watch = self._watch[p.index]
            while watch and watch[0].id not in self._by_id:
                watch.popleft()                       # acknowledged or declared lost
            if watch:
                times.append(watch[0].sent_at + self._overdue(p))
        if self._pending:
            times.append(now)
        return min(times) if times else None

    def reset_path(self, index: int, now: float) -> None:
        """A path's transport was re-established: what it had in flight is gone (counted
        lost, repaired if still useful) and its liveness starts afresh."""
        path = self.paths[index]
        for t in self._outstanding[index]:
            if self._by_id.pop(t.id, None) is not None and not t.probe:
                self.counters["lost"] += 1
                self._lost(index, t.packet, now, index)
        self._outstanding[index].clear()
        self._watch[index].clear()
        path.in_flight = 0
        path.unanswered_since = None
        path.alive = True

    # -- feedback ---------------------------------------------------------------------------
    def _rto(self, path: Path) -> float:
        srtt = path.srtt if path.srtt is not None else 0.3
        return srtt + 4 * path.rttvar + 2 * self.feedback_interval + 0.01

    def _overdue(self, path: Path) -> float:
        """How long after sending a packet's acknowledgement is late on ``path``: a round
        trip, two deviations and one feedback interval (reports come in batches)."""
        return (path.srtt if path.srtt is not None else 0.3) + 2 * path.rttvar \
            + self.feedback_interval

    def on_feedback(self, path_index: int, acked: list[tuple[int, float]], now: float) -> None:
        path = self.paths[path_index]
        path.on_feedback(now)
        highest = 0
        for tid, arrival in acked:
            t = self._by_id.pop(tid, None)
            late = t is None
            if late:
                t = self._declared_lost.pop(tid, None)
                if t is None:
                    continue
                self.counters["spurious_loss"] += 1
            path.on_acked(t.packet.size, t.sent_at, arrival, now, late=late,
                          app_limited=t.app_limited)
            self._mark_delivered(t.packet.seq)
            if self.fec is not None and not t.probe:
                self.fec.on_outcome(path_index, t.packet, False, now)
            highest = max(highest, tid)
        self._detect_losses(path, now, highest)

    def check_timeouts(self, now: float) -> None:
        for p in self.paths:
            self._detect_losses(p, now, 0)

    def _rescue(self, path: Path, now: float) -> None:
        """Reinjection by deadline: a packet whose acknowledgement is overdue, and whose loss
        the RTO would declare too late for a repair to arrive in time, gets a copy on
        another path now (once). The RTO waits out a path's whole delay variance; when a
        cellular uplink's capacity collapses, what it holds arrives — if ever — after the
        deadline, while an ACK merely late by two deviations still leaves time to send it
        another way. The original stays outstanding: a late ACK still counts."""
        watch = self._watch[path.index]
        if not watch:
            return
        overdue = self._overdue(path)
        others = None                      # (worked out once something is overdue)
        while watch:
            t = watch[0]
            if t.id not in self._by_id:
                watch.popleft()
                continue
            if now - t.sent_at <= overdue:
                break
            watch.popleft()
            if others is None:
                others = [p for p in self.paths if p.alive and p is not path]
                rto = self._rto(path)
            packet = t.packet
            if t.probe or packet.repair or packet.seq in self._delivered or not others:
                continue
            fastest = min(p.owd for p in others)
            if t.sent_at + rto + fastest <= packet.deadline or now + fastest > packet.deadline:
                continue        # the RTO's repair is still in time, or nothing is
            if self.fec is not None and self.fec.covers(packet):
                continue
            if not self.scheduler.rescues(packet, path.index, self.paths, self._queued_bytes, now):
                continue
            t.rescued = True
            self.counters["rescued"] += 1
            self._requeue(packet, now, path.index)

    def _detect_losses(self, path: Path, now: float, highest_acked: int) -> None:
        queue = self._outstanding[path.index]
        rto = self._rto(path)
        while queue:
            t = queue[0]
            if t.id not in self._by_id:          # acknowledged
                queue.popleft()
                continue
            # Lost by order only once reports could have covered it: acknowledgements come
            # in batches (CCFB), and a transport may still be repairing it.
            by_order = highest_acked and t.id < highest_acked and \
                now - t.sent_at > self.feedback_interval + (path.srtt or 0.1) / 4 and \
                sum(1 for x in itertools.islice(queue, 0, 64) if x.id not in self._by_id
                    and x.id > t.id) >= REORDER_THRESHOLD
            if not (by_order or now - t.sent_at > rto):
                break
            self.counters["lost_by_order" if by_order else "lost_by_timeout"] += 1
            queue.popleft()
            del self._by_id[t.id]
            self._declared_lost[t.id] = t
            if len(self._declared_lost) > 8192:
                del self._declared_lost[next(iter(self._declared_lost))]
            path.on_lost(t.packet.size, now)
            self.counters["lost"] += 1
            # Lost to silence (nothing later acknowledged): the path may be dying, so the
            # repair goes another way. Lost by order, it is still delivering.
            silent = None if by_order else path.index
            if t.probe:
                self._maybe_retransmit(t.packet, now, silent)
                continue
            # (rescued: its copy went another way already, and that is its repair)
            self._lost(path.index, t.packet, now, silent, repair=not t.rescued)
        self._rescue(path, now)

    def _lost(self, path_index: int, packet: SchedPacket, now: float,
              avoid: int | None = None, repair: bool = True) -> None:
        fec = self.fec
        if fec is not None:
            fec.on_outcome(path_index, packet, True, now)
            # packets left to FEC earlier whose block can no longer rebuild them: ARQ now
            for skipped in fec.uncovered(packet):
                self._maybe_retransmit(skipped, now)
        if repair:
            self._maybe_retransmit(packet, now, avoid)

    def _reachable(self, deadline: float, now: float) -> bool:
        return any(now + p.owd <= deadline for p in self.paths if p.alive)

    def _maybe_retransmit(self, packet: SchedPacket, now: float,
                          lost_on: int | None = None) -> None:
        if packet.seq in self._delivered:
            return
        if packet.repair:
            self.counters["repair_lost"] += 1
            return
        if self.fec is not None and self.fec.covers(packet):
            self.counters["fec_covered"] += 1      # the block will rebuild it: no ARQ
            return
        live = [p for p in self.paths if p.alive]
        if not live or min(now + p.owd for p in live) > packet.deadline:
            self.counters["arq_too_late"] += 1
            self._gone(packet)
            return
        self._requeue(packet, now, lost_on)
        self.counters["arq"] += 1

    def _requeue(self, packet: SchedPacket, now: float, avoid: int | None) -> None:
        """A repair of ``packet`` joins the scheduler's queue (the reliable one, to go first)."""
        retry = SchedPacket(packet.seq, packet.size, packet.frame, packet.deadline,
                            max(packet.priority, 6), True, packet.key, packet.gop, now, True,
                            avoid=avoid)
        self._pending.append(retry)
        self._per_frame[retry.frame] += 1

    def _gone(self, packet: SchedPacket) -> None:
        """``packet`` will not arrive (never sent, or lost past repair): tell ``on_gone``."""
        if self.on_gone is not None and not packet.repair and packet.seq not in self._delivered:
            self.on_gone(packet)

    def _mark_delivered(self, seq: int) -> None:
        if seq not in self._delivered:
            self._delivered.add(seq)
            self._delivered_order.append(seq)
            if len(self._delivered_order) > 100_000:
                self._delivered.discard(self._delivered_order.popleft())
