"""The bonding simulator: the real sender core, scheduler and path estimators, driven in
virtual time over emulated links (:class:`~strata_roq.netsim.link.Link`) — deterministic
for a seed, and a 60-second three-path scenario runs in seconds.

Per path: a forward link (capacity from a rate or a trace, delay or a delay series, loss,
outages) and a reverse link carrying the receiver's per-path feedback every 20 ms (the
acknowledgements RFC 8888 CCFB carries on a real RoQ connection). The media is a synthetic
live stream: video frames at ``fps`` (key frames every ``gop``, five times a P-frame) and
audio every 20 ms, cut into 1328-byte packets, each with its frame's deadline. The receiver
keeps the first copy of every sequence number; a frame is *on time* when all its packets
arrived before its deadline.

With ``fec`` (static / adaptive / uep / xor) a :class:`~strata_roq.fec.blocks.FecSender`
adds repair packets the scheduler places like any other; the receiver side counts each
block's arrivals (:class:`~strata_roq.fec.blocks.BlockTracker`) and a missing source is
rebuilt at the moment ``k`` of its block's symbols have arrived.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from strata_roq.clock import VirtualClock
from strata_roq.fec.blocks import REPAIR_SEQ_BASE, BlockTracker, FecSender
from strata_roq.fec.policy import MODES as FEC_MODES, ProtectionPolicy, fec_headroom
from strata_roq.multipath.bonding import BondedSender
from strata_roq.multipath.path import Path
from strata_roq.multipath.radio import DEFAULT_WATERMARKS
from strata_roq.netsim.link import Link
from strata_roq.netsim.loss import BernoulliLoss, make_loss
from strata_roq.netsim.trace import DeliveryTrace
from strata_roq.sched import make_scheduler
from strata_roq.sched.base import SchedPacket

PACKET = 1328
FEEDBACK_INTERVAL = 0.02


@dataclass
class PathSpec:
    name: str
    delay: float = 0.02                        # one-way, seconds
    rate: float | None = None                  # bit/s bottleneck (None: unlimited)
    trace: DeliveryTrace | None = None
    delay_schedule: list[tuple[float, float]] | None = None
    loss: float = 0.0
    burst: float | None = None
    jitter: float = 0.0
    queue: float = 0.2
    #: (time, kind, value): "down", "up", "loss" (new loss rate), "rsrp" (dBm)
    events: list[tuple[float, str, float | None]] = field(default_factory=list)


@dataclass
class Scenario:
    name: str
    paths: list[PathSpec]
    duration: float = 30.0
    bitrate: float = 4e6
    fps: int = 30
    gop: int = 60
    latency: float = 0.5
    audio: bool = True
    seed: int = 1
    description: str = ""


@dataclass
class _Frame:
    index: int
    capture: float
    deadline: float
    key: bool
    audio: bool
    seqs: list[int]


class Simulation:
    def __init__(self, scenario: Scenario, scheduler: str = "storm", *, fec: str = "off",
                 fec_target: float = 1e-4, fec_overhead: float = 0.2,
                 fec_window: float | None = None, fec_weights: dict | None = None,
                 cc: str | None = None, **scheduler_options) -> None:
        if fec not in FEC_MODES:
            raise ValueError(f"unknown FEC mode {fec!r} (one of {', '.join(FEC_MODES)})")
        self.scenario = scenario
        self.clock = VirtualClock()
        self.rng = random.Random(scenario.seed)
        if scheduler == "storm":
            scheduler_options.setdefault("latency", scenario.latency)
            if fec != "off":      # FEC is the redundancy: no loss-driven duplication on top
                scheduler_options.setdefault("dup_reliable", 1.0)
                scheduler_options.setdefault("dup_unreliable", 1.0)
        self.paths = [Path(spec.name) for spec in scenario.paths]
        self.sender = BondedSender(self.paths, make_scheduler(scheduler, **scheduler_options),
                                   feedback_interval=FEEDBACK_INTERVAL, cc=cc)
        self.forward: list[Link] = []
        self.backward: list[Link] = []
        for i, spec in enumerate(scenario.paths):
            self.forward.append(Link(delay=spec.delay, jitter=spec.jitter,
                                     loss=make_loss(spec.loss, spec.burst), rate=spec.rate,
                                     trace=spec.trace, queue_limit=spec.queue,
                                     delay_schedule=spec.delay_schedule,
                                     rng=random.Random(self.rng.random())))
            self.backward.append(Link(delay=spec.delay, delay_schedule=spec.delay_schedule,
                                      rng=random.Random(self.rng.random())))
            for when, kind, value in spec.events:
                self.clock.call_at(when, lambda i=i, k=kind, v=value: self._event(i, k, v))
        self.frames: list[_Frame] = []
        self.first_arrival: dict[int, float] = {}
        self.owd: list[list[float]] = [[] for _ in scenario.paths]   # per packet, per path
        self.duplicates = 0
        self.media_bytes = 0
        self._seq = 0
        self._acks: list[list[tuple[int, float]]] = [[] for _ in scenario.paths]
        self._poll_handle = None
        self._link_polls: dict[int, object] = {}
        self.fec: FecSender | None = None
        self.tracker: BlockTracker | None = None
        if fec != "off":
            policy = ProtectionPolicy(fec, overhead=fec_overhead, target=fec_target)
            if fec_weights:
                policy.weights.update(fec_weights)
            window = fec_window if fec_window is not None else min(0.1, scenario.latency / 5)
            # repair packets have their own range: media seqs stay contiguous (as RTP seqs
            # are), and a repair sorts after media of the same urgency
            repair_seqs = iter(range(REPAIR_SEQ_BASE, 1 << 62))
            self.fec = FecSender(policy, len(self.paths), lambda: next(repair_seqs),
                                 window=window)
            self.fec.headroom = lambda: fec_headroom(self.sender.backlog_seconds(),
                                                     policy.max_overhead)
            self.fec.repair_paths = lambda deadline: self.sender.paths_in_time(
                1400, deadline, self._now())
            self.sender.fec = self.fec
            self.tracker = BlockTracker(random.Random(self.rng.random()))

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq += 1
        return seq

    # -- events -------------------------------------------------------------------------
    def _event(self, i: int, kind: str, value) -> None:
        if kind in ("down", "up"):
            self.forward[i].set_up(kind == "up")
            self.backward[i].set_up(kind == "up")
        elif kind == "loss":
            self.forward[i].loss = BernoulliLoss(float(value))
        elif kind == "rsrp":
            self.paths[i].update_radio({"rsrp": value}, DEFAULT_WATERMARKS)

    def _now(self) -> float:
        return self.clock.now()

    # -- media ----------------------------------------------------------------------------
    def _media(self) -> None:
        s = self.scenario
        per_frame = s.bitrate / 8 / s.fps
        p_size = per_frame * s.gop / (s.gop + 4)         # key frames are 5 x a P-frame
        index = 0
        for k in range(int(s.duration * s.fps)):
            t = k / s.fps
            key = k % s.gop == 0
            size = (5 if key else 1) * p_size * self.rng.uniform(0.8, 1.2)
            self.clock.call_at(t, lambda t=t, size=size, key=key, i=index, g=k // s.gop:
                               self._frame(i, t, int(size), key, False, g))
            index += 1
        if s.audio:
            for k in range(int(s.duration / 0.02)):
                self.clock.call_at(k * 0.02, lambda t=k * 0.02, i=index + k:
                                   self._frame(i, t, 256, False, True, 0))

    def _frame(self, index: int, t: float, size: int, key: bool, audio: bool, gop: int) -> None:
        deadline = t + self.scenario.latency
        count = max(1, -(-size // PACKET))
        frame = _Frame(index, t, deadline, key, audio, [])
        priority = 7 if key else (6 if audio else 3)
        fec = self.fec
        live = [p.index for p in self.paths if p.alive] if fec is not None else []
        packet = None
        for _ in range(count):
            seq = self._next_seq()
            frame.seqs.append(seq)
            packet_size = min(PACKET, size) if audio else PACKET
            self.media_bytes += packet_size
            packet = SchedPacket(seq, packet_size, index, deadline, priority, key or audio,
                                 key, gop)
            repairs = fec.add(packet, t, live) if fec is not None else ()
            self.sender.push(packet, t)
            for repair in repairs:
                self.sender.push(repair, t)
        if fec is not None:
            for repair in fec.end_frame(key, t):
                self.sender.push(repair, t)
        self.frames.append(frame)
        self._schedule_poll(t)

    # -- sender ---------------------------------------------------------------------------
    def _schedule_poll(self, when: float) -> None:
        h = self._poll_handle
        if h is not None and not h.cancelled and h.when <= when:
            return
        if h is not None:
            h.cancel()
        self._poll_handle = self.clock.call_at(when, self._poll)

    def _poll(self) -> None:
        self._poll_handle = None
        now = self._now()
        if self.fec is not None:
            for repair in self.fec.flush(now):
                self.sender.push(repair, now)
            self.fec.forget(now)
        self.sender.check_timeouts(now)
        for t in self.sender.poll(now):
            link = self.forward[t.path]
            link.send((t.path, t.id, t.packet.seq, now), now, t.packet.size)
            self._schedule_link(link, ("f", t.path))
        nxt = self.sender.next_timer(now)
        if self.fec is not None and (flush := self.fec.next_flush()) is not None:
            nxt = flush if nxt is None else min(nxt, flush)
        self._schedule_poll(max(nxt, now + 0.0005) if nxt is not None else now + 0.01)

    def _schedule_link(self, link: Link, key) -> None:
        when = link.next_time()
        if when is None:
            return
        h = self._link_polls.get(key)
        if h is not None and not h.cancelled and h.when <= when:
            return
        if h is not None:
            h.cancel()
        self._link_polls[key] = self.clock.call_at(when, lambda: self._drain(link, key))

    def _drain(self, link: Link, key) -> None:
        self._link_polls.pop(key, None)
        now = self._now()
        for item in link.poll(now):
            if key[0] == "f":
                path, tid, seq, sent = item
                self.owd[path].append(now - sent)
                if seq in self.first_arrival:
                    self.duplicates += 1
                else:
                    self.first_arrival[seq] = now
                    if self.tracker is not None:
                        block = self.fec.block_of.get(seq)
                        if block is not None:
                            for rebuilt in self.tracker.on_arrival(block, seq):
                                self.first_arrival.setdefault(rebuilt, now)
                self._acks[path].append((tid, now))
            else:
                path, acks = item
                self.sender.on_feedback(path, acks, now)
                self._schedule_poll(now)
        self._schedule_link(link, key)

    def _feedback(self) -> None:
        now = self._now()
        for i, acks in enumerate(self._acks):
            if acks:
                self.backward[i].send((i, acks), now, 40 + 4 * len(acks))
                self._schedule_link(self.backward[i], ("b", i))
        self._acks = [[] for _ in self._acks]
        if now < self.scenario.duration + self.scenario.latency + 1.0:
            self.clock.call_at(now + FEEDBACK_INTERVAL, self._feedback)

    # -- run ------------------------------------------------------------------------------
    def run(self) -> dict:
        self._media()
        self.clock.call_at(0.0, self._feedback)
        self.clock.run(until=self.scenario.duration + self.scenario.latency + 1.5)
        return self.results()

    def results(self) -> dict:
        video = [f for f in self.frames if not f.audio]
        on_time, latencies, stalls, run = 0, [], 0, 0
        key_total = key_on_time = audio_on_time = 0
        lost_frames = lost_keys = 0
        decodable, chain = 0, False
        packets = late_packets = 0
        for f in sorted(self.frames, key=lambda f: f.capture):
            arrivals = [self.first_arrival.get(s) for s in f.seqs]
            packets += len(arrivals)
            late_packets += sum(1 for a in arrivals if a is None or a > f.deadline)
            done = None if any(a is None for a in arrivals) else max(arrivals)
            ok = done is not None and done <= f.deadline
            if done is None and not f.audio:
                lost_frames += 1
                lost_keys += f.key
            if f.audio:
                audio_on_time += ok
                continue
            on_time += ok
            if f.key:
                key_total += 1
                key_on_time += ok
            # Each P-frame predicts from the one before it: one late frame breaks the
            # picture up to the next key frame, however many arrive after it.
            chain = ok if f.key else chain and ok
            decodable += chain
            if done is not None:
                latencies.append(1000 * (done - f.capture))
            run = 0 if ok else run + 1
            if run == 2:                   # two frames in a row missing: a visible stall
                stalls += 1
        lat = np.asarray(latencies) if latencies else np.zeros(1)
        audio = [f for f in self.frames if f.audio]
        # queueing: each packet's one-way delay above its path's lowest (links' base delay)
        per_path = [np.asarray(d) - min(d) if d else np.zeros(0) for d in self.owd]
        queues = [q for q in per_path if len(q)]
        queue = np.concatenate(queues) if queues else np.zeros(1)
        return {
            "scenario": self.scenario.name,
            "scheduler": self.sender.scheduler.name,
            "frames": len(video),
            "on_time": on_time / len(video) if video else 0.0,
            "key_on_time": key_on_time / key_total if key_total else 0.0,
            # on time with every frame it depends on since its key frame on time too
            "decodable": decodable / len(video) if video else 0.0,
            "audio_on_time": audio_on_time / len(audio) if audio else None,
            "latency_p50_ms": float(np.percentile(lat, 50)),
            "latency_p99_ms": float(np.percentile(lat, 99)),
            "stalls": stalls,
            "queue_p95_ms": float(1000 * np.percentile(queue, 95)),
            "cc": self.sender.cc,
            "overhead": self.sender.bytes_sent / self.media_bytes if self.media_bytes else 0.0,
            "frame_loss": lost_frames / len(video) if video else 0.0,   # never complete
            # media packets not there by their frame's deadline (what FEC's target is about)
            "residual_loss": late_packets / packets if packets else 0.0,
            "key_loss": lost_keys / key_total if key_total else 0.0,
            "fec": None if self.fec is None else {
                **dict(self.fec.counters), "recovered": self.tracker.recovered,
                "decode_failures": self.tracker.failures},
            "decisions": dict(self.sender.counters),
            "paths": [{"name": p.name, "sent": p.sent_packets, "lost": p.lost_packets,
                       "deaths": p.deaths, "revivals": p.revivals,
                       "rate_mbps": round(p.delivery_rate * 8 / 1e6, 2),
                       "queue_p95_ms": round(float(1000 * np.percentile(q, 95)), 1)
                       if len(q) else None,
                       "min_rtt_ms": round(p.min_rtt * 1000, 1) if p.min_rtt != float("inf") else None}
                      for p, q in zip(self.paths, per_path)],
        }


def simulate(scenario: Scenario, scheduler: str = "storm", **options) -> dict:
    return Simulation(scenario, scheduler, **options).run()
