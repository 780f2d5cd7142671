"""One path of a bonded session, as the sender sees it: estimates from feedback.

Fed with what was sent (:meth:`on_sent`) and what feedback said (:meth:`on_acked` with the
receiver's arrival time, :meth:`on_lost`), a ``Path`` keeps: smoothed/min RTT, the one-way
delay trend (arrival − send time against its minimum: clock offsets cancel), loss as a
two-state Gilbert-Elliott estimate over recent packets, delivery rate (a 2-s maximum, and
the maximum since the last capacity fall: what the encoder may count on), bytes in flight,
liveness (silent for ~2 RTT while data is outstanding → dead; the next feedback revives it)
and optional radio metrics with a signal watermark. Schedulers read these; nothing here
does I/O or reads a clock.

With a congestion controller attached (:attr:`Path.controller`, one of
:mod:`strata_roq.cc`), the path feeds it the same sends, acknowledgements and losses, and
while the path shows a queue (:meth:`Path.capped`) what it is given — :meth:`Path.rate`,
hence the scheduler's predictions and the sender's pacing — is capped by the controller's
pacing rate: the delivery estimate says what the path has carried, the controller how much
of it would not only build that queue.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: Delivering under this share of its recent maximum while a queue stands: capacity fell.
FALL_RATIO = 0.7
#: The delivery maximum's window (s).
RATE_WINDOW = 2.0


def _windowed_max(samples: deque, sample: float, now: float) -> float:
    """Max over the last RATE_WINDOW s, as a monotonic deque (rates decreasing from the
    front): a sample below a newer one can never be the maximum again. O(1) per sample."""
    while samples and samples[-1][1] <= sample:
        samples.pop()
    samples.append((now, sample))
    while now - samples[0][0] > RATE_WINDOW:
        samples.popleft()
    return samples[0][1]


@dataclass(slots=True)
class LossEstimate:
    """Gilbert-Elliott parameters from the recent received/lost sequence (exponential
    forgetting with ``memory`` packets)."""

    memory: float = 2000.0
    good: float = 1.0          # decayed count of packets observed in the good state
    bad: float = 0.0
    good_to_bad: float = 0.0
    bad_to_good: float = 0.0
    last_lost: bool = False

    def observe(self, lost: bool) -> None:
        k = 1.0 - 1.0 / self.memory
        self.good, self.bad = self.good * k, self.bad * k
        self.good_to_bad, self.bad_to_good = self.good_to_bad * k, self.bad_to_good * k
        if self.last_lost:
            self.bad += 1
            if not lost:
                self.bad_to_good += 1
        else:
            self.good += 1
            if lost:
                self.good_to_bad += 1
        self.last_lost = lost

    @property
    def p_gb(self) -> float:
        return self.good_to_bad / self.good if self.good > 0 else 0.0

    @property
    def p_bg(self) -> float:
        return self.bad_to_good / self.bad if self.bad > 0 else 1.0

    @property
    def rate(self) -> float:
        """Stationary loss probability."""
        s = self.p_gb + self.p_bg
        return self.p_gb / s if s > 0 else 0.0

    @property
    def mean_burst(self) -> float:
        return 1.0 / self.p_bg if self.p_bg > 0 else float("inf")

    def next_loss(self) -> float:
        """Probability the next packet is lost, given the current state."""
        return 1.0 - self.p_bg if self.last_lost else self.p_gb


@dataclass
class Path:
    name: str
    index: int = 0
    srtt: float | None = None
    rttvar: float = 0.0
    min_rtt: float = float("inf")
    min_owd: float = float("inf")       # min (arrival - send): one-way delay + clock offset
    owd_excess: float = 0.0             # smoothed (owd - min_owd): queueing on this path
    delivery_rate: float = 0.0          # bytes/s, recent maximum (BBR's bottleneck bandwidth)
    in_flight: int = 0
    sent_packets: int = 0
    acked_packets: int = 0
    lost_packets: int = 0
    last_feedback: float | None = None
    first_sent: float | None = None
    alive: bool = True
    deaths: int = 0
    died_at: float | None = None        # when it was last declared dead
    #: False while the path has no transport at all (its connection is being redialled, or
    #: its socket could not bind): not even probes go out on it.
    reachable: bool = True
    revivals: int = 0
    rsrp: float | None = None           # radio metrics (dBm, dB, dB) from a RadioFeed
    rsrq: float | None = None
    sinr: float | None = None
    radio_weak: bool = False            # below a signal watermark: redundancy only
    sole_copies: int = 0                # packets this path carried with no duplicate elsewhere
    rate_floor: float = 250_000.0       # bytes/s assumed before any delivery sample
    #: bytes/s the path's transport lets through now (QUIC's congestion window over its
    #: round trip), when the driver knows it: caps what the estimates above promise
    transport_rate: float | None = None
    #: a per-path congestion controller (strata_roq.cc) whose pacing rate caps rate()
    controller: object | None = None
    #: queueing (owd_excess) from which the controller's rate caps the path's
    queue_target: float = 0.010
    loss: LossEstimate = field(default_factory=LossEstimate)
    unanswered_since: float | None = None  # first send since the last feedback
    last_outcome: float | None = None   # when a packet was last acknowledged or found lost
    _acks: deque = field(default_factory=deque)      # the last 256 (arrival, bytes)
    _win_start: int = 0         # index in _acks of the oldest ack within the rate window
    _win_bytes: int = 0         # bytes of _acks[_win_start:]
    _rate_samples: deque = field(default_factory=lambda: deque())     # (time, rate)
    #: bytes/s, the delivery maximum since the last capacity fall (see :meth:`_check_fall`):
    #: what the path is known to carry now — the encoder's rate counts on this one
    carrying_rate: float = 0.0
    falls: int = 0                      # capacity falls seen (queue, delivery far under max)
    _carrying_samples: deque = field(default_factory=lambda: deque())
    _fall_since: float | None = None
    _controller_resets: int = 0

    # -- feedback ---------------------------------------------------------------------
    def on_sent(self, size: int, now: float) -> None:
        if self.controller is not None:
            self.controller.on_sent(size, now)
        self.in_flight += size
        self.sent_packets += 1
        if self.first_sent is None:
            self.first_sent = now
        if self.unanswered_since is None:
            self.unanswered_since = now

    def on_acked(self, size: int, sent_at: float, arrival: float | None, now: float,
                 late: bool = False, app_limited: bool = False) -> None:
        """``late``: the packet had been declared lost (already out of ``in_flight`` and
        counted lost). Its acknowledgement shows the path is up and, on a path not measured
        yet, gives its first RTT — a path slower than the first RTO (a 600 ms satellite)
        would otherwise never be measured, every packet on it "lost" before its ack."""
        if late:
            self._heard(now)
            if self.srtt is None:
                self.srtt, self.rttvar = now - sent_at, (now - sent_at) / 2
                self.min_rtt = min(self.min_rtt, now - sent_at)
            return
        self.in_flight = max(0, self.in_flight - size)
        self.acked_packets += 1
        if self.controller is not None:
            self.controller.on_ack(size, sent_at, arrival if arrival is not None else now, now,
                                   app_limited)
        self._heard(now)
        rtt = now - sent_at
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.min_rtt = min(self.min_rtt, rtt)
        if arrival is not None:
            owd = arrival - sent_at
            self.min_owd = min(self.min_owd, owd)
            self.owd_excess = 0.9 * self.owd_excess + 0.1 * (owd - self.min_owd)
        self.loss.observe(False)
        self.last_outcome = now
        # Rate from the receiver's arrival times: feedback comes in batches, so the times
        # acknowledgements reach us would overstate it.
        acks = self._acks
        acks.append((arrival if arrival is not None else now, size))
        self._win_bytes += size
        if len(acks) > 256:
            dropped = acks.popleft()[1]
            if self._win_start:
                self._win_start -= 1
            else:
                self._win_bytes -= dropped
        self._update_rate(now)

    def on_lost(self, size: int, now: float) -> None:
        if self.controller is not None:
            self.controller.on_loss(size, now)
        self.in_flight = max(0, self.in_flight - size)
        self.lost_packets += 1
        self.loss.observe(True)
        self.last_outcome = now

    def next_loss(self, now: float) -> float:
        """Probability that a packet sent now is lost. While the path carries traffic, the
        Gilbert-Elliott state of its last outcome (a burst continues); once it has been idle
        — nothing in flight, no outcome for an RTT — the stationary rate: a burst seen on
        packets long gone says nothing about the next one, and a path left idle after a
        loss would otherwise stay "in a burst", and unused, forever."""
        last = self.last_outcome
        if self.in_flight == 0 and last is not None and now - last > max(self.srtt or 0.1, 0.1):
            return self.loss.rate
        return self.loss.next_loss()

    def seed_rtt(self, rtt: float) -> None:
        """An RTT measured by the transport (e.g. QUIC's handshake) before any feedback of
        ours: without it a fresh path looks slow and is never tried, so never measured."""
        if self.srtt is None and rtt > 0:
            self.srtt, self.rttvar = rtt, rtt / 2
            self.min_rtt = min(self.min_rtt, rtt)

    def on_feedback(self, now: float) -> None:
        """Any feedback at all (even reporting only losses) shows the path is up."""
        self._heard(now)

    def _heard(self, now: float) -> None:
        self.last_feedback = now
        self.unanswered_since = None
        if not self.alive:
            self.alive = True
            self.revivals += 1

    def _update_rate(self, now: float) -> None:
        # Bytes acknowledged within one RTT (at least 50 ms) before the latest arrival: the
        # window's edge moves with each ack (and back when the RTT grows), so the cost per
        # ack stays O(1) amortised instead of a walk over the last 256 acks.
        window = max(self.srtt or 0.1, 0.05)
        acks = self._acks
        latest = acks[-1][0]
        start, total = self._win_start, self._win_bytes
        last = len(acks) - 1
        while start < last and latest - acks[start][0] > window:
            total -= acks[start][1]
            start += 1
        while start > 0 and latest - acks[start - 1][0] <= window:
            start -= 1
            total += acks[start][1]
        self._win_start, self._win_bytes = start, total
        oldest = acks[start][0]
        if latest - oldest > 0.01:
            sample = (total - acks[-1][1]) / (latest - oldest)
            self.delivery_rate = _windowed_max(self._rate_samples, sample, now)
            self.carrying_rate = _windowed_max(self._carrying_samples, sample, now)
            self._check_fall(sample, window, now)
        controller = self.controller
        if controller is not None and controller.resets != self._controller_resets:
            # The controller saw capacity fall (bbr-rt): pace from what is left, and measure
            # afresh from here (the rate window still spans acknowledgements from before).
            # The old maximum paced the path at the old rate each time its queue drained
            # for a moment; it queued again (real sockets, 8 → 2.5 Mbit/s: 16 losses).
            self._controller_resets = controller.resets
            self._restart(self._rate_samples, controller.bandwidth, now)
            self.delivery_rate = controller.bandwidth
            self._win_start, self._win_bytes = len(acks) - 1, acks[-1][1]

    def _check_fall(self, sample: float, window: float, now: float) -> None:
        """A capacity fall (a cell handover, 8 → 2.5 Mbit/s) restarts :attr:`carrying_rate`:
        while a queue stands the bottleneck is busy, so what it delivers is what it can
        carry now; under ``FALL_RATIO`` of the maximum for a whole rate window, the older
        samples describe a path that is gone. (The scheduler's :attr:`delivery_rate` keeps
        them: on the cellular drive a dip is often over within the window, and a maximum
        restarted at every dip left the paths under-used when it was — STORM lost 9-16
        frames in four seeds instead of none.)"""
        if self.owd_excess < self.queue_target or sample >= FALL_RATIO * self.carrying_rate:
            self._fall_since = None
        elif self._fall_since is None:
            self._fall_since = now
        elif now - self._fall_since >= window:
            self._restart(self._carrying_samples, sample, now)
            self.carrying_rate = sample
            self._fall_since = None
            self.falls += 1

    @staticmethod
    def _restart(samples: deque, sample: float, now: float) -> None:
        samples.clear()
        samples.append((now, sample))

    # -- liveness and prediction -----------------------------------------------------------
    def check_alive(self, now: float, dead_after: float | None = None,
                    feedback_interval: float = 0.0) -> bool:
        """Dead once nothing has answered for ~2 RTT (at least 100 ms) after we sent — and
        for at least two of the receiver's feedback intervals: it answers in batches."""
        if self.unanswered_since is None:
            return self.alive
        limit = dead_after if dead_after is not None else max(
            0.1, 2 * (self.srtt or 0.1) + 4 * self.rttvar, 2 * feedback_interval)
        if self.alive and now - self.unanswered_since > limit:
            self.alive = False
            self.deaths += 1
            self.died_at = now
        return self.alive

    def update_radio(self, metrics: dict[str, float], watermarks: dict[str, float]) -> None:
        """A radio reading: weak when any metric is below its watermark."""
        for name, value in metrics.items():
            setattr(self, name, value)
        self.radio_weak = any(metrics[k] < mark for k, mark in watermarks.items()
                              if k in metrics)

    def clear_radio(self) -> None:
        self.rsrp = self.rsrq = self.sinr = None
        self.radio_weak = False

    @property
    def unreliable(self) -> bool:
        """Radio watermark: weak signal means loss is coming before it shows."""
        return self.radio_weak

    @property
    def owd(self) -> float:
        """Estimated one-way delay (half the min RTT plus current queueing)."""
        base = self.min_rtt / 2 if self.min_rtt != float("inf") else 0.05
        return base + self.owd_excess

    def rate(self) -> float:
        """Usable bytes/s: the delivery estimate (a floor before the first samples), and no
        more than the transport lets through now. A 600 ms satellite's QUIC connection
        starts with ten packets per round trip (24 kB/s) and paces them over it: taken for
        250 kB/s, it was handed a third of a 1.5 Mbit/s stream at once; the frames waited
        inside QUIC, were reset at their deadlines and counted lost, and STORM then left the
        path for good. A window that congestion shrank says the same on any path. While the
        path shows a queue, its congestion controller's pacing rate caps it too."""
        rate = max(self.delivery_rate, self.rate_floor)
        if self.capped():
            # not below the floor either: a path little used (a slow satellite beside two
            # cells) shows the controller only a trickle, and a rate taken from that would
            # keep it little used for good
            rate = min(rate, max(self.controller.pacing_rate, self.rate_floor))
        if self.transport_rate is not None:
            rate = min(rate, self.transport_rate)
        return rate

    def capped(self) -> bool:
        """Whether the controller's rate caps this path now: only while its one-way delay
        shows a queue. Media seldom fills a path, and a controller's model grows only with
        what the path carries: applied always, a path the scheduler used little (a 600 ms
        satellite beside two cells) stayed little used — the delivery model's own probing
        finds room the controller's slow cycle does not — and STORM lost on-time frames."""
        return self.controller is not None and self.owd_excess >= self.queue_target

    def predict_arrival(self, size: int, now: float, extra_queue: int = 0) -> float:
        """When ``size`` more bytes sent now would arrive: queued bytes beyond one BDP drain
        at the delivery rate, then one-way delay."""
        rate = self.rate()
        bdp = rate * (self.min_rtt if self.min_rtt != float("inf") else 0.1)
        backlog = max(0.0, self.in_flight + extra_queue - bdp)
        return now + (backlog + size) / rate + self.owd
