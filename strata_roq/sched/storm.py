"""STORM: a reliable and an unreliable queue ordered by an urgency-priority score, sent with
4D-MAP's four primitives.

Order (:meth:`StormScheduler.sort_key`): the score ``α·priority + (1−α)·urgency`` — priority
from the frame type (key frames, audio and PSI form the *reliable* queue and always come
before P/B-frames of the *unreliable* queue), urgency growing as the deadline nears (1/slack).
``α`` trades "important first" against "soonest due first". Scores age, so the sender
re-scores a path's queue whenever packets join it, and predicts a reliable packet's arrival
behind the reliable bytes queued on a path only (it overtakes the rest).

Placement (:meth:`StormScheduler.choose`):
- **dispatch** to the live path with the earliest predicted completion that meets the
  deadline; a path below its radio watermark may never carry the sole copy;
- **duplicate** onto the next path that meets the deadline when the chosen path's predicted
  loss for the next packet exceeds a threshold (lower for the reliable queue) — only from
  spare capacity: while the packets waiting across the live paths would drain within
  ``spare_backlog`` (5 %) of the budget. A copy on a full path delays the sole copies
  behind it (on thin cellular uplinks beside a satellite that cost more frames than it saved).
  From spare capacity too, a key frame's (or audio's) repair is sent twice when two paths
  make the deadline and it could not be repaired again in time (its loss would be found
  about two round trips after it arrives): its last chance;
- **rescue** (duplicate, late): a packet whose acknowledgement is overdue on its path (a
  round trip, two deviations and a feedback interval), when the loss timeout would find it
  too late for a repair to arrive, gets a copy on another live path with room (its queue
  drains within ``spare_backlog`` of the budget) that makes the deadline. A cellular
  uplink's capacity can fall sixfold for half a second: what it holds then arrives after
  the deadline, and its RTO — four deviations on a jittery path — is too late to repair it;
- **discard** at the sender when no live path could deliver before the deadline even with
  an empty queue (now + its one-way delay > deadline), or when it is predicted late while
  the paths are congested (the backlog test of *decompensate*): better never than late. A
  P/B packet predicted late only behind a passing queue — whose drain time is itself an
  estimate — is still sent on the earliest path (it often makes it; the sender drops it
  later if it truly cannot). A retransmission joins the reliable queue to go out first, but
  is judged by what it repairs: one of a P-frame is a P/B packet here, not a key frame's;
- **decompensate** under aggregate congestion: when the backlog on every live path would
  take more than ``decompensate_after`` (half) of the budget to drain, drop P/B-frames (the
  tail of the GOP) so the next key frame gets through. *Every* path: one with room (a wide
  satellite beside full cellular uplinks) still takes them, and its capacity, rarely
  measured while it is little used, must not be averaged away. Short outages that clear
  within the budget should not trigger it (waiting beats dropping), hence half the budget,
  not less — and the whole budget while a path that died less than ``outage_grace`` ago may
  still come back, or while a repair avoids a path that fell silent and is not yet declared
  dead (the scheduler then sees only the survivors, whose backlog is the outage's).
"""

from __future__ import annotations

from strata_roq.sched.base import Decision, Scheduler


class StormScheduler(Scheduler):
    name = "storm"
    scores_age = True
    rescue_overdue = True

    def __init__(self, alpha: float = 0.5, dup_reliable: float = 0.005,
                 dup_unreliable: float = 0.05, latency: float = 0.5,
                 decompensate_after: float = 0.5, outage_grace: float = 2.0,
                 spare_backlog: float = 0.05) -> None:
        self.alpha = alpha
        self.spare_backlog = spare_backlog
        self.dup_reliable = dup_reliable
        self.dup_unreliable = dup_unreliable
        self.latency = latency
        self.decompensate_after = decompensate_after
        self.outage_grace = outage_grace

    def sort_key(self, packet, now):
        slack = max(packet.deadline - now, 1e-3)
        urgency = min(1.0, 0.05 / slack)                # 1 when ≤ 50 ms are left
        score = self.alpha * (packet.priority / 7.0) + (1 - self.alpha) * urgency
        return (0 if packet.reliable else 1, -score, packet.seq)

    def overtakes(self, packet) -> bool:
        return packet.reliable

    def choose(self, packet, paths, queued, now, ahead=None) -> Decision:
        # A reliable packet waits only behind the reliable queue: predicted behind the
        # P-frames it overtakes, key frames went to a slow, lossy path or were discarded.
        ranked = self.earliest(packet, paths, queued if ahead is None else ahead, now)
        if not ranked:
            return Decision([], "no-path")
        # Expected delivery counts a likely loss as one more round trip (the repair).
        ranked.sort(key=lambda tp: tp[0] + tp[1].next_loss(now) * (tp[1].srtt or 0.1))
        on_time = [(t, p) for t, p in ranked if t <= packet.deadline]
        precious = self.precious(packet)
        # (a repair avoiding a path that fell silent: that path may be in a short outage)
        congested = not precious and self._congested(paths, queued, now,
                                                     packet.avoid is not None)
        if not on_time:
            if any(p.srtt is None for _, p in ranked) or (
                    not precious
                    and any(now + p.owd <= packet.deadline for _, p in ranked)
                    and not congested):
                # Predicted late only because of a passing queue (or nothing measured yet):
                # no grounds to discard; the earliest path still has the best chance.
                on_time = ranked
            else:
                return Decision([], "discard")
        if congested:
            return Decision([], "decompensate")
        safe = [(t, p) for t, p in on_time if not p.unreliable]
        first_t, first = (safe or on_time)[0]
        chosen = [first.index]
        threshold = self.dup_reliable if packet.reliable else self.dup_unreliable
        if ((first.next_loss(now) > threshold or self._last_chance(packet, first_t, first))
                and self._spare(paths, queued)) or (first.unreliable and not safe):
            for t, p in on_time:
                if p.index != first.index:
                    chosen.append(p.index)
                    return Decision(chosen, "duplicate")
        return Decision(chosen, "dispatch")

    def rescues(self, packet, on, paths, queued, now) -> bool:
        """Rescue onto a path other than ``on`` with a short queue that makes the deadline."""
        return any(p.alive and p.index != on
                   and queued[p.index] / p.rate() < self.spare_backlog * self.latency
                   and p.predict_arrival(packet.size, now, queued[p.index]) <= packet.deadline
                   for p in paths)

    def _last_chance(self, packet, arrival: float, path) -> bool:
        """A key frame's (or audio's) repair that could not be repaired again in time: its
        loss would only be found about two round trips after it arrives."""
        return packet.retransmission and self.precious(packet) and \
            packet.deadline - arrival < 2 * (path.srtt or 0.1) + 4 * path.rttvar

    @staticmethod
    def precious(packet) -> bool:
        """Never sent predicted late nor decompensated: key frames, audio and PSI (and
        retransmissions of key frames), not retransmissions of P/B-frames."""
        return packet.key or (packet.reliable and not packet.retransmission)

    def _spare(self, paths, queued) -> bool:
        """Whether the paths have room for a redundant copy: what waits to be sent across the
        live paths drains within ``spare_backlog`` of the budget."""
        live = [p for p in paths if p.alive]
        rate = sum(p.rate() for p in live)
        return rate > 0 and sum(queued[p.index] for p in live) / rate \
            < self.spare_backlog * self.latency

    def _congested(self, paths, queued, now, silent: bool = False) -> bool:
        live = [p for p in paths if p.alive]
        if not live or any(p.srtt is None for p in live):
            return False              # nothing measured yet: no grounds to drop anything
        drain = min((queued[p.index] + max(0.0, p.in_flight - p.rate() * min(p.min_rtt, 1.0)))
                    / p.rate() for p in live)
        limit = self.decompensate_after
        if silent or any(p.died_at is not None and now - p.died_at < self.outage_grace
                         for p in paths if not p.alive):
            # A path just went dark (a LEO handover, a modem re-attaching): its capacity may
            # be back within the budget, so drop frames only once waiting is hopeless.
            limit = 1.0
        return drain > limit * self.latency
