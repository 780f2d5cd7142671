"""The encoder rate signal on the wire: one small JSON object per UDP datagram,
``{"rate_bps": 2500000}``, so any encoder wrapper (a shell script with ``socat``, an OBS
plugin) can read it without a library. The sender repeats it every 250 ms and on every
change, so a lost datagram (or a late-starting encoder) costs at most that."""

from __future__ import annotations

import json

from strata_roq.errors import ParseError

#: Rates outside this are not believed (bit/s).
MIN_RATE, MAX_RATE = 10_000, 10_000_000_000


def encode_rate(rate_bps: float) -> bytes:
    return json.dumps({"rate_bps": int(rate_bps)}).encode()


def parse_rate(data: bytes) -> int:
    """The rate in a rate datagram; ParseError (one line, says what) for anything else."""
    try:
        value = json.loads(data)["rate_bps"]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise ParseError("rate message is not JSON with a rate_bps field") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not MIN_RATE <= value <= MAX_RATE:
        raise ParseError(f"rate_bps {value!r} is not a number in {MIN_RATE}..{MAX_RATE}")
    return int(value)
