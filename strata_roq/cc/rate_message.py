"""The encoder rate signal on the wire: one small JSON object per UDP datagram,
``{"rate_bps": 2500000}``, so any encoder wrapper (a shell script with ``socat``, an OBS
plugin) can read it without a library. The sender repeats it every 250 ms and on every
change, so a lost datagram (or a late-starting encoder) costs at most that.

The same channel carries a **key-frame request**, ``{"rate_bps": N, "key_frame": true}``
(RTCP PLI's role, RFC 4585 §6.3.1): a reference picture was lost on the way, everything up
to the next key frame is undecodable, so the encoder should send one now rather than at the
end of its GOP."""

from __future__ import annotations

import json

from strata_roq.errors import ParseError

#: Rates outside this are not believed (bit/s).
MIN_RATE, MAX_RATE = 10_000, 10_000_000_000


def encode_rate(rate_bps: float, key_frame: bool = False) -> bytes:
    message = {"rate_bps": int(rate_bps)}
    if key_frame:
        message["key_frame"] = True
    return json.dumps(message).encode()


def parse_rate(data: bytes) -> int:
    """The rate in a rate datagram; ParseError (one line, says what) for anything else."""
    return parse_rate_message(data)[0]


def parse_rate_message(data: bytes) -> tuple[int, bool]:
    """``(rate_bps, key_frame requested)``; ParseError (one line, says what) for anything
    else."""
    try:
        message = json.loads(data)
        value = message["rate_bps"]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise ParseError("rate message is not JSON with a rate_bps field") from None
    key = message.get("key_frame", False)
    if not isinstance(key, bool):
        raise ParseError(f"key_frame {key!r} is not true or false")
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not MIN_RATE <= value <= MAX_RATE:
        raise ParseError(f"rate_bps {value!r} is not a number in {MIN_RATE}..{MAX_RATE}")
    return int(value), key
