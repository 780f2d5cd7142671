"""Capacity traces as packet delivery opportunities (mahimahi's model).

A trace is a sorted list of millisecond offsets, each one chance to deliver 1500 bytes; it
loops with a period equal to its last offset. mahimahi files are that list verbatim; the
Starlink/AT&T/Verizon drive CSVs (one throughput sample per 500 ms) are expanded into evenly
spaced opportunities.
"""

from __future__ import annotations

import bisect
import csv
from dataclasses import dataclass

from strata_roq.errors import UsageError

MTU_BYTES = 1500


@dataclass(slots=True)
class DeliveryTrace:
    offsets_ms: list[int]
    period_ms: int
    name: str = ""

    @property
    def mean_rate(self) -> float:
        """bit/s averaged over one period."""
        return len(self.offsets_ms) * MTU_BYTES * 8 / (self.period_ms / 1000.0)

    def index_at(self, t: float) -> int:
        """Global index (counting loops) of the first opportunity at or after ``t`` s."""
        n = len(self.offsets_ms)
        loop, rest = divmod(t * 1000.0, self.period_ms)
        i = bisect.bisect_left(self.offsets_ms, rest)
        return int(loop) * n + i

    def time_of(self, index: int) -> float:
        loop, i = divmod(index, len(self.offsets_ms))
        return (loop * self.period_ms + self.offsets_ms[i]) / 1000.0


def read_mahimahi(path: str) -> DeliveryTrace:
    try:
        with open(path, encoding="ascii") as f:
            offsets = [int(line) for line in f if line.strip()]
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read mahimahi trace {path}: {exc}") from None
    if not offsets or any(b < a for a, b in zip(offsets, offsets[1:])):
        raise UsageError(f"{path}: a mahimahi trace is non-decreasing millisecond offsets")
    return DeliveryTrace(offsets, max(offsets[-1], 1), path)


def read_throughput_csv(path: str, sample_ms: int = 500) -> DeliveryTrace:
    """A ``time,throughput_mbps,...`` CSV (the Starlink drive dataset) as opportunities."""
    offsets: list[int] = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [float(r["throughput_mbps"]) for r in csv.DictReader(f)]
    except (OSError, KeyError, ValueError) as exc:
        raise UsageError(f"cannot read throughput CSV {path}: {exc}") from None
    for k, mbps in enumerate(rows):
        count = int(round(mbps * 1e6 * sample_ms / 1000.0 / (MTU_BYTES * 8)))
        base = k * sample_ms
        offsets += [base + (j * sample_ms) // max(count, 1) for j in range(count)]
    if not offsets:
        raise UsageError(f"{path}: no throughput samples")
    return DeliveryTrace(offsets, len(rows) * sample_ms, path)


def read_trace(path: str) -> DeliveryTrace:
    return read_throughput_csv(path) if path.endswith(".csv") else read_mahimahi(path)
