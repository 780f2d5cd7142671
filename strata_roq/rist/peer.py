"""One RIST peer as seen from our side, and how packets to it are put on the wire.

Both profiles reduce to the same idea: a peer has an address for data and one for RTCP.
Simple Profile (TR-06-1) uses two UDP ports (RTP on P, RTCP on P+1), so the caller must know
which of its two sockets a datagram uses (``Datagram.rtcp``). Main Profile (TR-06-2) uses one
UDP port and GRE virtual ports (:mod:`strata_roq.rist.gre`), optionally encrypted. The peer
also carries what we learn about it: liveness, RTT, CNAME.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import NamedTuple

from strata_roq.rist import gre
from strata_roq.rist.config import RistConfig
from strata_roq.rist.psk import PskDecryptor, PskEncryptor
from strata_roq.rtp import rtcp
from strata_roq.rtp.ntp import seconds_from_ntp


class Datagram(NamedTuple):
    """A datagram a core wants sent; ``rtcp`` picks the RTCP socket in Simple Profile."""

    data: bytes
    addr: tuple[str, int]
    rtcp: bool = False


@dataclass(slots=True)
class Peer:
    addr: tuple[str, int]               # where data goes (Main Profile: everything)
    rtcp_addr: tuple[str, int]          # where RTCP goes
    weight: int = 0
    configured: bool = False            # named in the URL (vs. learned from an incoming packet)
    local_vport: int = 0                # Main Profile virtual ports (even = data, odd = RTCP)
    remote_vport: int = gre.DATA_PORT
    encryptor: PskEncryptor | None = None
    last_heard: float | None = None
    rtt: float | None = None            # smoothed RTT (s)
    rtt_last: float | None = None
    cname: str | None = None
    ssrc: int | None = None
    next_report: float = 0.0
    credit: float = 0.0                 # weighted round-robin state
    sent: int = 0
    received: int = 0
    extra: dict = field(default_factory=dict)

    def alive(self, now: float, timeout: float) -> bool:
        """Heard within ``timeout`` (a peer never heard from yet counts as alive: it is being
        set up, and librist peers wait for our traffic before they answer)."""
        return self.last_heard is None or now - self.last_heard <= timeout

    def heard(self, now: float) -> None:
        self.last_heard = now
        self.received += 1

    def update_rtt(self, sample: float) -> None:
        if not 0 <= sample < 60:
            return
        self.rtt_last = sample
        self.rtt = sample if self.rtt is None else 0.875 * self.rtt + 0.125 * sample


class Wire:
    """Encodes packets for a peer and decodes incoming datagrams, for one profile."""

    def __init__(self, config: RistConfig) -> None:
        self.config = config
        self.main = config.profile == "main"
        self.decryptor = PskDecryptor(config.secret) if self.main and config.secret else None
        self._next_vport = 32768 + random.randrange(0, 16384) * 2

    def new_peer(self, addr: tuple[str, int], *, configured: bool, weight: int = 0,
                 rtcp_addr: tuple[str, int] | None = None) -> Peer:
        if rtcp_addr is None:
            rtcp_addr = addr if self.main else (addr[0], addr[1] + 1)
        peer = Peer(addr, rtcp_addr, weight=weight, configured=configured)
        if self.main:
            peer.local_vport = self._next_vport
            self._next_vport = 32768 + (self._next_vport + 2 - 32768) % 32768
            peer.remote_vport = self.config.virt_dst_port
            if self.config.secret:
                peer.encryptor = PskEncryptor(self.config.secret, self.config.aes_bits,
                                              self.config.key_rotation)
        return peer

    def encode(self, packet: bytes, peer: Peer, *, rtcp: bool) -> Datagram:
        if not self.main:
            return Datagram(packet, peer.rtcp_addr if rtcp else peer.addr, rtcp)
        src = peer.local_vport | (1 if rtcp else 0)
        dst = peer.remote_vport | (1 if rtcp else 0)
        return Datagram(gre.encapsulate(packet, src, dst, peer.encryptor), peer.addr, rtcp)

    def decode(self, data: bytes | memoryview) -> gre.GrePacket:
        """The RTP/RTCP packet inside a datagram (Simple Profile: the datagram itself)."""
        if not self.main:
            return gre.GrePacket(gre.PROTO_REDUCED, 0, 0, data)
        return gre.decapsulate(data, self.decryptor)

    @staticmethod
    def learn_ports(peer: Peer, packet: gre.GrePacket) -> None:
        """A peer that talks to us first tells us its virtual ports: answer with them swapped."""
        if packet.src_port:
            peer.remote_vport = packet.src_port & ~1
        if packet.dst_port and not peer.configured:
            peer.local_vport = packet.dst_port & ~1


def answer_common_rtcp(packet, peer: Peer, now: float, *, ssrc: int, cname: str,
                       wall_offset: float, wire: "Wire", out: list[Datagram]) -> bool:
    """RTCP both ends treat alike — SDES (peer's CNAME) and librist's echo request/response
    (RTT) — handled in one place; False if ``packet`` is something else."""
    if isinstance(packet, rtcp.Sdes):
        for chunk in packet.chunks:
            if chunk.cname:
                peer.cname = chunk.cname
        return True
    if isinstance(packet, rtcp.RistEcho):
        if packet.response:
            sent = seconds_from_ntp(packet.ntp_timestamp) - wall_offset
            peer.update_rtt(now - sent - packet.delay_us / 1e6)
        else:
            reply = rtcp.build_rtcp_compound(
                [rtcp.ReceiverReport(ssrc), rtcp.Sdes.cname(ssrc, cname),
                 rtcp.RistEcho(ssrc, packet.ntp_timestamp, 0, response=True)])
            out.append(wire.encode(reply, peer, rtcp=True))
        return True
    return False


def random_ssrc() -> int:
    """An even, non-zero SSRC: RIST marks retransmissions by setting the low bit."""
    value = int.from_bytes(os.urandom(4), "big") & ~1
    return value or 2


