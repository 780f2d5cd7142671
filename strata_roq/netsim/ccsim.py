"""One path, one congestion controller, virtual time: how much of the capacity it uses and
how much queue it stands on.

A saturating sender (always has media to send) paced by the controller and capped by its
in-flight window, a forward :class:`~strata_roq.netsim.link.Link` with a bottleneck (a rate,
or a capacity trace) and a deep buffer (1 s, so a controller that builds queues shows it in
delay rather than hiding it in drops), and a reverse link carrying one acknowledgement per
packet with the receiver's arrival time on a clock offset from the sender's (+3 s: only
delay differences may matter). Losses are declared when three later packets are
acknowledged, or after 1 s + 4 × the one-way delay of silence. Results: utilisation (bytes delivered / bytes the bottleneck could carry,
after a warm-up), per-packet queueing delay p50/p95 (arrival − send − propagation), and
the controller's rate over time.
"""

from __future__ import annotations

import random
from collections import OrderedDict

import numpy as np

from strata_roq.netsim.link import Link
from strata_roq.netsim.trace import MTU_BYTES, DeliveryTrace

CLOCK_OFFSET = 3.0


def capacity_bytes(trace: DeliveryTrace | None, rate: float | None, start: float,
                   end: float) -> float:
    if trace is not None:
        return (trace.index_at(end) - trace.index_at(start)) * MTU_BYTES
    return (rate or 0.0) / 8 * (end - start)


def run(controller, *, delay: float = 0.05, rate: float | None = None,
        trace: DeliveryTrace | None = None, duration: float = 30.0, warmup: float = 5.0,
        mss: int = 1400, queue: float = 1.0, seed: int = 1, on_tick=None,
        tick: float = 0.05) -> dict:
    """Run ``controller`` for ``duration`` s. ``on_tick(now, controller)`` is called every
    ``tick`` s (e.g. to feed a rate signal)."""
    rng = random.Random(seed)
    fwd = Link(delay=delay, rate=rate, trace=trace, queue_limit=queue,
               rng=random.Random(rng.random()))
    rev = Link(delay=delay, rng=random.Random(rng.random()))
    outstanding: OrderedDict[int, float] = OrderedDict()     # seq -> sent_at
    queueing: list[tuple[float, float]] = []
    rates: list[tuple[float, float]] = []
    delivered = 0
    seq = 0
    now, next_send, next_tick = 0.0, 0.0, 0.0
    lost = 0
    while now < duration:
        candidates = [t for t in (fwd.next_time(), rev.next_time(), next_tick) if t is not None]
        if controller.can_send(mss):
            candidates.append(max(next_send, now))
        now = min(candidates)
        for s, sent_at in fwd.poll(now):
            if sent_at >= warmup:
                queueing.append((sent_at, now - sent_at - delay))
                delivered += mss
            rev.send((s, sent_at, now), now, 40)
        for s, sent_at, arrived in rev.poll(now):
            if outstanding.pop(s, None) is None:
                continue
            controller.on_ack(mss, sent_at, arrived + CLOCK_OFFSET, now)
            while outstanding:
                first = next(iter(outstanding))
                if first >= s - 3:
                    break
                outstanding.popitem(last=False)
                controller.on_loss(mss, now)
                lost += 1
        while outstanding:                        # silence: declared lost after an RTO
            first, sent_at = next(iter(outstanding.items()))
            if now - sent_at <= 1.0 + 4 * delay:
                break
            outstanding.popitem(last=False)
            controller.on_loss(mss, now)
            lost += 1
        if now >= next_tick:
            rates.append((now, controller.pacing_rate * 8))
            if on_tick is not None:
                on_tick(now, controller)
            next_tick += tick
        if now >= next_send and controller.can_send(mss):
            fwd.send((seq, now), now, mss)
            outstanding[seq] = now
            controller.on_sent(mss, now)
            seq += 1
            next_send = now + mss / max(controller.pacing_rate, 1.0)
    q = np.asarray([d for _, d in queueing]) * 1000 if queueing else np.zeros(1)
    cap = capacity_bytes(trace, rate, warmup, duration)
    return {
        "controller": controller.name,
        "utilisation": delivered / cap if cap else 0.0,
        "queue_p50_ms": float(np.percentile(q, 50)),
        "queue_p95_ms": float(np.percentile(q, 95)),
        "lost": lost,
        "rates": rates,
        "queueing": queueing,
    }


def run_encoder_loop(estimator, *, delay: float = 0.015, rate: float | None = None,
                     trace: DeliveryTrace | None = None, duration: float = 30.0,
                     fps: int = 30, mss: int = 1200, feedback_interval: float = 0.05,
                     queue: float = 1.0, overhead: float = 1.08) -> dict:
    """A live encoder in a closed loop with ``estimator`` (:class:`EncoderRate`): each
    picture (``fps``) is the signalled rate's share × ``overhead`` (audio, TS, RTP), sent as
    a burst of ``mss`` packets through the bottleneck; the receiver reports arrivals every
    ``feedback_interval`` (CCFB) over the reverse path. Results: the signal over time
    [(t, bit/s)], per-packet queueing delay [(t, s)], and each picture's delivery time after
    capture [(t, s)]."""
    fwd = Link(delay=delay, rate=rate, trace=trace, queue_limit=queue,
               rng=random.Random(1))
    rev = Link(delay=delay, rng=random.Random(2))
    signal: list[tuple[float, float]] = []
    queueing: list[tuple[float, float]] = []
    pictures: dict[int, list] = {}       # index -> [capture, packets left, last arrival]
    arrivals: list[tuple[int, float]] = []
    seq = 0
    target = estimator.rate_bps
    now, next_frame, next_report = 0.0, 0.0, feedback_interval
    index = 0
    while now < duration:
        now = min(t for t in (fwd.next_time(), rev.next_time(), next_frame, next_report)
                  if t is not None)
        for s, sent_at, pic in fwd.poll(now):
            queueing.append((sent_at, now - sent_at - delay - mss * 8 / (rate or 1e12)))
            arrivals.append((s, now))
            p = pictures[pic]
            p[1] -= 1
            p[2] = now
        for report in rev.poll(now):
            estimator.on_feedback(report, now)
        if now >= next_report:
            if arrivals:
                rev.send(list(arrivals), now, 40 + 2 * len(arrivals))
                arrivals.clear()
            next_report += feedback_interval
        if now >= next_frame:
            told = estimator.poll(now)
            if told is not None:
                target = told
            signal.append((now, target))
            size = int(target * overhead / 8 / fps)
            count = max(1, -(-size // mss))
            pictures[index] = [now, count, None]
            for _ in range(count):
                fwd.send((seq & 0xFFFF, now, index), now, mss)
                estimator.on_sent(seq & 0xFFFF, mss, now)
                seq += 1
            index += 1
            next_frame += 1.0 / fps
    done = [(c, last - c) for c, left, last in pictures.values() if left == 0 and last]
    return {"signal": signal, "queueing": queueing, "pictures": done,
            # (pictures of the last second may still be on their way: not counted)
            "lost_pictures": sum(1 for c, left, _ in pictures.values()
                                 if left > 0 and c < duration - 1.0)}


def run_flows(controllers, *, delays, rate: float, shared: bool = True,
              duration: float = 30.0, warmup: float = 5.0, mss: int = 1400,
              queue: float = 1.0, seed: int = 1) -> dict:
    """Several saturating flows, one controller each: through one bottleneck of ``rate``
    bit/s (``shared``) or through one such bottleneck each. ``delays``: each flow's one-way
    propagation delay. Results: each flow's throughput (bit/s after the warm-up), the
    bottlenecks' utilisation, and queueing delay p50/p95 over all packets."""
    rng = random.Random(seed)
    n = len(controllers)
    links = [Link(delay=0.0, rate=rate, queue_limit=queue, rng=random.Random(rng.random()))
             for _ in range(1 if shared else n)]
    fwd = [links[0 if shared else i] for i in range(n)]
    # after the bottleneck: propagation to the receiver, and the acknowledgement's way back
    rev = [Link(delay=2 * d, rng=random.Random(rng.random())) for d in delays]
    outstanding: list[OrderedDict[int, float]] = [OrderedDict() for _ in range(n)]
    delivered = [0] * n
    queueing: list[float] = []
    next_send = [0.0] * n
    seqs = [0] * n
    now = 0.0
    while now < duration:
        times = [t for link in links if (t := link.next_time()) is not None]
        times += [t for link in rev if (t := link.next_time()) is not None]
        times += [max(next_send[i], now) for i, c in enumerate(controllers) if c.can_send(mss)]
        now = min(times)
        for link in links:                  # the bottleneck, then each flow's own delay
            for i, s, sent_at in link.poll(now):
                arrived = now + delays[i]
                if sent_at >= warmup:
                    queueing.append(now - sent_at - mss * 8 / rate)
                    delivered[i] += mss
                rev[i].send((s, sent_at, arrived), now, 40)
        for i, link in enumerate(rev):
            c, out = controllers[i], outstanding[i]
            for s, sent_at, arrived in link.poll(now):
                if out.pop(s, None) is None:
                    continue
                c.on_ack(mss, sent_at, arrived + CLOCK_OFFSET, now)
                while out and next(iter(out)) < s - 3:
                    out.popitem(last=False)
                    c.on_loss(mss, now)
        for i, c in enumerate(controllers):
            if now >= next_send[i] and c.can_send(mss):
                fwd[i].send((i, seqs[i], now), now, mss)
                outstanding[i][seqs[i]] = now
                c.on_sent(mss, now)
                seqs[i] += 1
                next_send[i] = now + mss / max(c.pacing_rate, 1.0)
    q = np.asarray(queueing) * 1000 if queueing else np.zeros(1)
    span = duration - warmup
    return {
        "throughput": [8 * b / span for b in delivered],
        "utilisation": 8 * sum(delivered) / span / (rate * len(links)),
        "queue_p50_ms": float(np.percentile(q, 50)),
        "queue_p95_ms": float(np.percentile(q, 95)),
    }
