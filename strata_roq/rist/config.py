"""RIST settings from a ``rist://`` URL, with librist 0.2.7's names and defaults."""

from __future__ import annotations

from dataclasses import dataclass

from strata_roq.errors import UsageError
from strata_roq.urls import Endpoint


@dataclass(slots=True)
class RistConfig:
    profile: str = "main"               # "simple" (TR-06-1) or "main" (TR-06-2)
    buffer: float = 1.0                 # s: recovery window / sender retransmit history
    rtt_min: float = 0.050
    rtt_max: float = 0.500
    reorder_buffer: float = 0.025       # s to wait before NACKing a gap
    cname: str = "strata-roq"
    secret: str | None = None
    aes_bits: int = 0                   # 0 = encryption off
    key_rotation: int = 0
    session_timeout: float = 0.250      # s of silence before a peer is dead
    keepalive_interval: float = 0.100   # s between RTCP reports
    min_retries: int = 6
    max_retries: int = 20
    weight: int = 0                     # 0 = duplicate to every peer; > 0 = weighted share
    virt_dst_port: int = 1968
    nack_type: str = "range"            # "range" (librist default) or "bitmask" (RFC 4585)
    fec: int = 0                        # % RaptorQ repair (Strata peers only; 0 = off)
    fec_block: int = 16                 # source packets per FEC block

    @classmethod
    def from_endpoint(cls, ep: Endpoint) -> "RistConfig":
        c = cls()
        c.profile = ep.get_choice("profile", ("simple", "main"), "main")
        ms = lambda name, default, lo=0: ep.get_int(name, default, minimum=lo) / 1000.0  # noqa: E731
        c.buffer = ms("buffer", 1000, 1)
        c.rtt_min = ms("rtt-min", 50, 1)
        c.rtt_max = ms("rtt-max", 500, 1)
        if c.rtt_max < c.rtt_min:
            raise UsageError(f"{ep.url}: rtt-max is smaller than rtt-min")
        c.reorder_buffer = ms("reorder-buffer", 25)
        c.cname = ep.get_str("cname", c.cname) or c.cname
        if len(c.cname.encode()) > 128:
            raise UsageError(f"{ep.url}: cname longer than 128 bytes")
        c.secret = ep.get_str("secret") or None
        c.aes_bits = ep.get_int("aes-type", 0)
        if c.aes_bits not in (0, 128, 256):
            raise UsageError(f"{ep.url}: aes-type must be 128 or 256, got {c.aes_bits}")
        if c.secret and not c.aes_bits:
            # librist 0.2.7 silently leaves encryption off here; an error is safer.
            raise UsageError(f"{ep.url}: secret= needs aes-type=128 or aes-type=256")
        if c.aes_bits and not c.secret:
            raise UsageError(f"{ep.url}: aes-type needs secret=")
        if c.secret and c.profile == "simple":
            raise UsageError(f"{ep.url}: encryption needs profile=main")
        c.key_rotation = ep.get_int("key-rotation", 0, minimum=0)
        c.session_timeout = ms("session-timeout", 250, 1)
        c.keepalive_interval = ms("keepalive-interval", 100, 1)
        c.min_retries = ep.get_int("min-retries", 6, minimum=0)
        c.max_retries = ep.get_int("max-retries", 20, minimum=0)
        if c.max_retries < c.min_retries:
            raise UsageError(f"{ep.url}: max-retries is smaller than min-retries")
        c.weight = ep.get_int("weight", 0, minimum=0)
        c.virt_dst_port = ep.get_int("virt-dst-port", 1968, minimum=0, maximum=65534) & ~1
        c.nack_type = ep.get_choice("nack-type", ("range", "bitmask"), "range")
        # RaptorQ repair packets (PT 118) in the data flow: understood by Strata receivers,
        # which rebuild lost packets before NACKing them; a librist peer would not.
        c.fec = ep.get_int("fec", 0, minimum=0, maximum=100)
        c.fec_block = ep.get_int("fec-block", 16, minimum=2, maximum=128)
        if c.profile == "simple" and ep.port % 2:
            raise UsageError(f"{ep.url}: simple profile needs an even port (RTCP uses port+1)")
        return c

    def clamp_rtt(self, rtt: float | None) -> float:
        if rtt is None:
            return self.rtt_min
        return min(self.rtt_max, max(self.rtt_min, rtt))
