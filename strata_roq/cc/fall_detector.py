"""A capacity fall, seen within one feedback report instead of a round later.

The delay-gradient controller judges once per round on the round's *lowest* queueing delay,
which keeps it calm through key-frame bursts and a cellular scheduler's jitter — and makes
it slow at a real fall: by the end of the round after the one the fall began in, media
50 % over the new capacity has filled a 200 ms queue (the relay drops the rest, and every
picture until the next whole key frame breaks).

One report already tells. While the bottleneck is busy (each packet of a run waited in its
queue) packets leave it at its capacity, evenly, so the run's bytes over its arrival span
are what the path serves now. A key frame's burst also waits — but it is served at the
path's full capacity, above what the media sends on average; only a fall shows a busy path
serving *less* than the media's recent rate. Sans-I/O: one report's packets in, the rate
the path serves out (or None).
"""

from __future__ import annotations

from collections import deque

#: A run is busy while every packet's queueing delay is over this (s).
BUSY = 0.010
#: The rate is taken over the run's newest arrivals spanning this long (s): a few packets at
#: the lowest rates that matter.
MIN_SPAN = 0.015
MIN_PACKETS = 4
#: A fall: the path serves under this share of what the media sent over the last WINDOW s.
FALL = 0.75
WINDOW = 1.0
#: A busy bottleneck serves at an even pace: no gap between arrivals (per byte) this many
#: times longer than the median. Delay that merely varies (a FIFO link with jitter: a late
#: packet holds back the ones behind it, which then come at once) arrives in bunches and
#: gaps, and its rate over a few tens of milliseconds says nothing.
EVEN = 3.0


class FallDetector:
    def __init__(self) -> None:
        self._sent: deque[tuple[float, int]] = deque()    # (time, bytes) over WINDOW
        self._sent_bytes = 0
        self.falls = 0

    def on_sent(self, size: int, now: float) -> None:
        sent = self._sent
        sent.append((now, size))
        self._sent_bytes += size
        while now - sent[0][0] > WINDOW:
            self._sent_bytes -= sent.popleft()[1]

    def media_rate(self) -> float:
        """Bytes/s sent over the last WINDOW seconds (0 before there is a span)."""
        sent = self._sent
        span = sent[-1][0] - sent[0][0] if sent else 0.0
        return self._sent_bytes / span if span >= WINDOW / 2 else 0.0

    def on_report(self, packets: list[tuple[float, float, int]]) -> float | None:
        """``packets``: (arrival, queueing delay, bytes) of the packets one report acknowledged,
        arrival times on the receiver's clock. The rate (bytes/s) the path served over the
        busy run the report ends with, when it is a fall; else None."""
        packets = sorted(packets)
        # The busy run the report ends with: packets that all waited in the queue ...
        start = len(packets)
        while start > 0 and packets[start - 1][1] > BUSY:
            start -= 1
        run = packets[start:]
        if len(run) < MIN_PACKETS:
            return None
        # ... its rate over the newest MIN_SPAN of it (the newest news) ...
        last = run[-1][0]
        first = next((i for i in range(len(run) - MIN_PACKETS, -1, -1)
                      if last - run[i][0] >= MIN_SPAN), None)
        if first is None:
            return None
        span = last - run[first][0]
        served = sum(size for _, _, size in run[first + 1:]) / span   # the first was
                                                                       # served before
        # ... served evenly: no gap (per byte) in the run far longer than that span's
        # median (shorter ones, from before a fall, are fine) ...
        pace = [(b[0] - a[0]) / b[2] for a, b in zip(run, run[1:])]     # s per byte
        newest = sorted(pace[first:])
        if max(pace) > EVEN * newest[len(newest) // 2]:
            return None
        # ... and, over the whole run, no faster than the media comes: jitter's bunches and
        # gaps can pass for a slow, even pace over a few packets, not over a report's worth
        # (a fall's first run is partly served at the old rate: under the media's is enough).
        whole = sum(size for _, _, size in run[1:]) / (last - run[0][0])
        media = self.media_rate()
        if media <= 0 or served >= FALL * media or whole >= media:
            return None
        self.falls += 1
        return served
