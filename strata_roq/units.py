"""Human units on the command line: ``4M`` bit/s, ``40ms``, ``2%``, ``1280x720``.

Each parser raises :class:`UsageError` naming the option and the bad value, so a typo is one
clear line, never a traceback.
"""

from __future__ import annotations

import re

from strata_roq.errors import UsageError

_SI = {"": 1, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9}
_TIME = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "m": 60.0, "min": 60.0}


def parse_bitrate(text: str, what: str = "bitrate") -> int:
    """``4M``, ``500k``, ``2.5Mbps``, ``800000`` → bit/s."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgG]?)(?:bit/s|bps|b)?\s*", str(text))
    if not m or float(m[1]) <= 0:
        raise UsageError(f"{what}: {text!r} is not a bit rate (e.g. 4M, 500k, 2500000)")
    return int(float(m[1]) * _SI[m[2]])


def parse_seconds(text: str, what: str = "duration", default_unit: str = "s") -> float:
    """``40ms``, ``1.5s``, ``2m``, ``10`` (in ``default_unit``) → seconds (≥ 0)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|us|s|min|m)?\s*", str(text))
    if not m:
        raise UsageError(f"{what}: {text!r} is not a time (e.g. 40ms, 1.5s, 10)")
    return float(m[1]) * _TIME[m[2] or default_unit]


def parse_percent(text: str, what: str = "probability") -> float:
    """``2%``, ``0.02`` → 0.02, in [0, 1]."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%?)\s*", str(text))
    if not m:
        raise UsageError(f"{what}: {text!r} is not a percentage (e.g. 2%, 0.02)")
    value = float(m[1]) / (100.0 if m[2] else 1.0)
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"{what}: {text!r} is outside 0..100%")
    return value


def parse_size(text: str, what: str = "size") -> tuple[int, int]:
    """``1280x720`` → (1280, 720); both even and at least 16."""
    m = re.fullmatch(r"\s*(\d+)[xX](\d+)\s*", str(text))
    if not m or int(m[1]) < 16 or int(m[2]) < 16 or int(m[1]) % 2 or int(m[2]) % 2:
        raise UsageError(f"{what}: {text!r} is not WIDTHxHEIGHT with even sides ≥ 16 (e.g. 1280x720)")
    return int(m[1]), int(m[2])
