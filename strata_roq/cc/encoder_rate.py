"""The encoder's rate, from the media's own feedback: the sender's side of the loop
"estimate → signal → encoder re-targets → media rate → feedback".

Sans-I/O. In: every RTP packet sent (``on_sent``: seq, bytes, now) and every RFC 8888
(CCFB) report's arrivals (``on_feedback``: [(seq, arrival or None)], now). The one-way-
delay-gradient controller (:mod:`.gradient`) judges queueing from send and arrival times;
its rate becomes the signal through :class:`~strata_roq.cc.rate_signal.RateSignal`
(down at once, up slowly). Out: ``poll(now)`` gives the rate to tell the encoder when it
changed, and again every ``repeat`` seconds (the message may be lost, or the encoder
started after us).

The media is *application-limited*: the encoder sends what it was told, so delivery never
shows capacity above the current rate. So the controller may grow past what is delivered
only by ``headroom`` (×1.5, GCC's rule) — enough to climb back after a dip within seconds,
never a leap into a queue — or up to ``demand_bps``, the source's full rate, while the
sender itself holds part of the media back. When feedback stops (the path died, the reports are lost) the
signal halves every ``silence`` seconds: sending at the old rate into a dead path helps
nobody.

The signal is the encoder's *video* target, and what it sends is more (audio, TS and RTP
headers: :attr:`wire_ratio`, measured). Once a standing queue measured the path's
capacity, the rate that fits is that capacity over the ratio: the signal's plateau, which
it climbs past slowly (:class:`~strata_roq.cc.rate_signal.RateSignal`). Without it the
signal ran ~10 % past the fit before each queue was seen, a sawtooth of ±10 %.
"""

from __future__ import annotations

from collections import OrderedDict

from strata_roq.cc.base import WindowedMax
from strata_roq.cc.fall_detector import FallDetector
from strata_roq.cc.gradient import GradientController
from strata_roq.cc.rate_signal import RateSignal, RateTeller


#: A standing queue is drained within this long (s).
DRAIN = 1.0
#: A capacity measured this long ago (s) still describes the path: queues stand at the key
#: frames of a stream near the path's capacity, a few seconds apart.
CAPACITY_FRESH = 3.0
#: Feedback before the estimate may move the signal (s): the first rounds see a
#: connection still starting (handshake, the first key frame, QUIC's slow start).
WARMUP = 0.3
#: What the encoder sends over what it was told is measured over spans this long (s), and
#: smoothed over about ten of them; taken within [1, MAX_WIRE_RATIO].
RATIO_SPAN = 0.2
MAX_WIRE_RATIO = 1.5


class EncoderRate:
    def __init__(self, initial_bps: float, *, max_bps: float | None = None,
                 min_bps: float = 200_000.0, headroom: float = 1.5, repeat: float = 0.25,
                 silence: float = 1.0, controller: GradientController | None = None,
                 signal: RateSignal | None = None, min_round: float = 0.01,
                 drives_encoder: bool = True) -> None:
        self.max_bps = max_bps or initial_bps
        self.min_bps = min_bps
        #: Its signal is what an encoder is told (one path). False for a bonded sender's
        #: per-path estimators: only their :attr:`instant_bps` counts, and what a path
        #: carries over its own signal says nothing of the media's overhead (the aggregate
        #: measures that itself).
        self.drives_encoder = drives_encoder
        self.headroom = headroom
        self.silence = silence
        self.controller = controller or GradientController(initial_rate=initial_bps / 8,
                                                           min_rate=min_bps / 8,
                                                           min_round=min_round)
        self.signal = signal or RateSignal(floor=min_bps, margin=1.0)
        self.rate_bps = float(initial_bps)
        #: The path's safe rate as last estimated, before the signal's smoothing and the
        #: encoder's ceiling (what the whole media — video, audio, mux overhead — must fit;
        #: the signal is the encoder's video target).
        self.instant_bps = float(initial_bps)
        self._sent: OrderedDict[int, tuple[float, int]] = OrderedDict()   # seq -> (time, bytes)
        self._last_feedback: float | None = None
        self._teller = RateTeller(repeat)
        self.acked = 0
        self._delivered = WindowedMax(2.0)     # best delivery rate of the last 2 s
        #: What the source would send if all of it went (bit/s), when the sender holds part
        #: of it back (layer thinning): the estimate may grow to it, so the layer can return.
        self.demand_bps: float | None = None
        self._first_feedback: float | None = None
        self._heard: float | None = None      # the last report (the silence rule moves
                                              # ``_last_feedback`` on as it halves)
        #: bytes sent over the rate told (the media's overhead on the encoder's target)
        self.wire_ratio = 1.0
        self._span_bytes = 0
        self._span_start: float | None = None
        #: a capacity fall seen within one report (the controller judges a round later)
        self.fall = FallDetector()
        #: What the path served (bit/s) if the last report showed a capacity fall, else
        #: None: a sender may keep its excess back (:class:`strata_roq.roq.window_cap.FallHold`).
        self.fell_bps: float | None = None
        #: The lowest queueing delay (s) among the packets the last report acknowledged.
        self.report_queue: float | None = None

    def on_sent(self, seq: int, size: int, now: float) -> None:
        sent = self._sent
        sent[seq & 0xFFFF] = (now, size)
        if len(sent) > 8192:                 # never acknowledged: forget the oldest
            sent.popitem(last=False)
        self.controller.on_sent(size, now)
        self.fall.on_sent(size, now)
        if not self.drives_encoder:
            return
        self._span_bytes += size
        if self._span_start is None:
            self._span_start = now
        elif now - self._span_start >= RATIO_SPAN:
            told = self.rate_bps * (now - self._span_start) / 8
            ratio = min(MAX_WIRE_RATIO, max(1.0, self._span_bytes / told))
            self.wire_ratio += 0.1 * (ratio - self.wire_ratio)
            self._span_bytes, self._span_start = 0, now

    def on_feedback(self, arrivals, now: float) -> None:
        """``arrivals``: (RTP seq, arrival time or None) pairs from one CCFB report; arrival
        times on any clock (only their differences matter)."""
        ctrl = self.controller
        self._last_feedback = self._heard = now
        if self._first_feedback is None:
            self._first_feedback = now
        sent = self._sent
        report = []                          # (arrival, queueing delay, bytes) of new acks
        for seq, arrival in arrivals:
            if arrival is None:
                # Not arrived *yet* (a report covers packets still in a queue): a later
                # report tells. Only packets never reported arrived age out of ``_sent``.
                continue
            item = sent.pop(seq & 0xFFFF, None)
            if item is None:
                continue                     # reported before (reports overlap)
            self.acked += 1
            ctrl.on_ack(item[1], item[0], arrival, now)
            report.append((arrival, ctrl.queue_delay, item[1]))
        fell = self.fall.on_report(report) if report else None
        self.fell_bps = None if fell is None else fell * 8
        self.report_queue = min(q for _, q, _ in report) if report else None
        # what the bottleneck served while a queue stood (bit/s), if lately measured: only
        # an estimator whose signal an encoder follows drains from it and sets its plateau
        capacity = self.capacity_bps(now) if self.drives_encoder else None
        if now - self._first_feedback < WARMUP:
            ctrl.pacing_rate = max(ctrl.pacing_rate, self.rate_bps / 8)   # hold the start rate
        elif ctrl.delivery_rate > 0:
            # Application-limited: never more than headroom × the best recent delivery.
            delivered = self._delivered.update(now, ctrl.delivery_rate)
            cap = self.headroom * delivered
            if self.demand_bps:
                cap = max(cap, self.demand_bps / 8)
            ctrl.pacing_rate = min(ctrl.pacing_rate, cap)
            if ctrl.standing_queue > ctrl.target:
                # A queue stands (the capacity fell under a higher rate): sending at 0.9 ×
                # the delivery rate would drain it at a trickle, the pictures behind it late
                # for seconds. Drain it within DRAIN seconds instead (at least half speed):
                # a share of what the bottleneck serves (its capacity while fresh: a round's
                # delivery swings with the pictures, and the cut followed it down), less
                # what the encoder sends on top of what it is told.
                share = max(0.5, 1.0 - ctrl.standing_queue / DRAIN)
                served = capacity / 8 if capacity is not None else ctrl.delivery_rate
                ctrl.pacing_rate = min(ctrl.pacing_rate, share * served / self.wire_ratio)
            if fell is not None:
                # A busy path serves evenly, and less than the media sends (a fall, seen
                # within one report): cut now to what it serves (less the drain share),
                # not at the round's end.
                share = max(0.5, 1.0 - max(q for _, q, _ in report) / DRAIN)
                ctrl.pacing_rate = min(ctrl.pacing_rate, share * fell / self.wire_ratio)
        self.instant_bps = max(self.min_bps, ctrl.pacing_rate * 8)
        if capacity is not None:
            self.signal.plateau = capacity / self.wire_ratio
        self.rate_bps = self.signal.update(min(self.max_bps, self.instant_bps))

    def capacity_bps(self, now: float) -> float | None:
        """What the path served while a queue stood on it (bit/s), if measured within
        CAPACITY_FRESH seconds; None otherwise. Unlike :attr:`instant_bps` (a rate that drains
        a queue, which an application-limited flow's delivery bounds) it says whether the
        media *fits*: a key frame's queue on a path near its capacity drains by itself."""
        ctrl = self.controller
        at = getattr(ctrl, "capacity_at", None)
        if at is None or now - at > CAPACITY_FRESH:
            return None
        return ctrl.capacity * 8

    def carries_bps(self, now: float) -> float:
        """What the path is known to carry of the media (bit/s), for a decision to thin it
        (not the encoder's target): its :meth:`capacity_bps` while fresh; with no queue
        standing, all it is offered — :attr:`demand_bps` (no evidence against it: a key
        frame's burst, which cuts the estimate for a round, is no such evidence); once
        feedback has stopped, only the estimate that the silence rule halves."""
        capacity = self.capacity_bps(now)
        if capacity is not None:
            return capacity
        if self._heard is None or now - self._heard > self.silence:
            return self.instant_bps
        return max(self.instant_bps, self.demand_bps or 0.0)

    def retell(self) -> None:
        """Tell the encoder at the next :meth:`poll` (it has just started sending)."""
        self._teller.retell()

    def poll(self, now: float) -> int | None:
        """The rate (bit/s) to tell the encoder now, or None if nothing needs saying."""
        if self._last_feedback is not None and self._sent and \
                now - self._last_feedback > self.silence:
            self._last_feedback = now                      # halve once per silence period
            self.rate_bps = max(self.min_bps, self.rate_bps / 2)
            self.instant_bps = min(self.instant_bps, self.rate_bps)
            self.signal.signalled = self.signal.ewma = self.rate_bps
        return self._teller.due(int(self.rate_bps), now)
