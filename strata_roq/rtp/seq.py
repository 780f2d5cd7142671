"""Sequence-number arithmetic: 16-bit RTP sequence numbers (and 32-bit timestamps) unwrapped.

RTP sequence numbers wrap every 65 536 packets — about a minute at 10 Mbit/s — so every
buffer, loss counter and NACK list works on extended 64-bit numbers instead (RFC 3550 §A.1).
"""

from __future__ import annotations


def seq_diff(a: int, b: int, bits: int = 16) -> int:
    """Signed distance ``a - b`` on a ``bits``-bit circle, in [-2^(bits-1), 2^(bits-1))."""
    half = 1 << (bits - 1)
    return ((a - b + half) & ((1 << bits) - 1)) - half


def seq_lt(a: int, b: int, bits: int = 16) -> bool:
    """True when ``a`` comes before ``b`` (modular comparison)."""
    return seq_diff(a, b, bits) < 0


class SeqUnwrapper:
    """Extends wrapping counters to monotonic integers.

    Each value is placed at the extended number nearest to the highest one seen so far, so
    late and reordered packets (within half the range) map to the right cycle. The first
    value is placed in cycle 1 (``value + 2**bits``), so a packet that was sent before the
    first one to arrive still gets a non-negative number below it.
    """

    __slots__ = ("bits", "_highest")

    def __init__(self, bits: int = 16) -> None:
        self.bits = bits
        self._highest: int | None = None

    @property
    def highest(self) -> int | None:
        """The highest extended value returned so far."""
        return self._highest

    def peek(self, value: int) -> int:
        """Where :meth:`unwrap` would place ``value``, without taking it as seen."""
        mask = (1 << self.bits) - 1
        if self._highest is None:
            return (value & mask) + (1 << self.bits)
        return self._highest + seq_diff(value & mask, self._highest & mask, self.bits)

    def unwrap(self, value: int) -> int:
        mask = (1 << self.bits) - 1
        value &= mask
        if self._highest is None:
            self._highest = value + (1 << self.bits)
            return self._highest
        extended = self._highest + seq_diff(value, self._highest & mask, self.bits)
        if extended > self._highest:
            self._highest = extended
        return extended
