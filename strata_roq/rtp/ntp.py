"""NTP timestamps as RTCP uses them (RFC 3550 §4): 64-bit, 32-bit "middle", 16.16 delays."""

from __future__ import annotations

NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


def ntp_from_seconds(seconds: float) -> int:
    """64-bit NTP timestamp (32.32 fixed point) of Unix-epoch ``seconds``."""
    return int(round((seconds + NTP_UNIX_OFFSET) * (1 << 32))) & 0xFFFFFFFFFFFFFFFF


def seconds_from_ntp(ntp: int) -> float:
    """Unix-epoch seconds of a 64-bit NTP timestamp."""
    return ntp / (1 << 32) - NTP_UNIX_OFFSET


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits (16.16) — the form of LSR in report blocks."""
    return (ntp >> 16) & 0xFFFFFFFF


def short_to_seconds(value: int) -> float:
    """A 16.16 fixed-point interval (DLSR, or LSR differences) in seconds."""
    return value / 65536.0


def seconds_to_short(seconds: float) -> int:
    """Seconds as a 16.16 fixed-point interval, clamped to 32 bits."""
    return max(0, min(0xFFFFFFFF, int(round(seconds * 65536.0))))


def rtt_from_report(arrival_ntp_middle: int, lsr: int, dlsr: int) -> float | None:
    """Round-trip time (s) from a report block: A − LSR − DLSR (RFC 3550 §6.4.1), or None."""
    if lsr == 0:
        return None
    rtt = ((arrival_ntp_middle - lsr - dlsr) & 0xFFFFFFFF) / 65536.0
    return rtt if rtt < 65536 / 2 else None
