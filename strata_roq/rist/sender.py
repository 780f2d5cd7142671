"""Sans-I/O RIST sender (TR-06-1 Simple / TR-06-2 Main Profile), librist-compatible.

``send(payload, now)`` wraps one payload (e.g. 7 × 188 bytes of MPEG-TS) in RTP (PT 33,
90 kHz timestamp, even SSRC) and queues a datagram for each chosen peer. The sender keeps
``buffer`` + 2 × ``rtt-max`` of history and answers range and bitmask NACKs with
retransmissions (``SSRC | 1``), at most once per RTT for the same packet. Every
``keepalive-interval`` each peer gets SR + SDES + an echo request: the SDES is the handshake
librist receivers wait for, the rest measures RTT.

Several peers: ``weight=0`` peers get every packet (duplication, librist's default); peers
with weight > 0 share the rest by smooth weighted round-robin. A peer silent for longer than
``session-timeout`` is dead and skipped until it answers again.
"""

from __future__ import annotations

import logging
import struct
from collections import deque
from dataclasses import asdict, dataclass

from strata_roq.errors import ParseError
from strata_roq.rist import gre
from strata_roq.rist.config import RistConfig
from strata_roq.rist.peer import Datagram, Peer, Wire, answer_common_rtcp, random_ssrc
from strata_roq.rtp import rtcp
from strata_roq.rtp.ntp import ntp_from_seconds, ntp_middle32, rtt_from_report
from strata_roq.rtp.packet import is_rtcp

log = logging.getLogger(__name__)

_RTP = struct.Struct(">BBHII")
PT_MP2T = 33
#: History is bounded by count too, so a 16-bit sequence number never names two packets.
MAX_HISTORY = 32768


@dataclass(slots=True)
class SenderStats:
    sent: int = 0                  # media packets sent (first copies, once per packet)
    datagrams: int = 0             # incl. duplicates to several peers
    bytes_sent: int = 0
    retransmitted: int = 0
    retransmitted_bytes: int = 0
    nacks_received: int = 0        # sequence numbers requested
    nack_unknown: int = 0          # requested but not (or no longer) in the history
    nack_too_soon: int = 0         # asked again within one RTT: refused
    bad_packets: int = 0
    decrypt_errors: int = 0
    oob_packets: int = 0
    no_live_peer: int = 0          # packets sent while every peer looked dead
    fec_packets: int = 0           # RaptorQ repair packets sent (fec=)

    def as_dict(self) -> dict:
        return asdict(self)


class RistSender:
    def __init__(self, config: RistConfig, outputs: list[tuple[tuple[str, int], int]] = (), *,
                 listen: bool = False, ssrc: int | None = None, wall_offset: float = 0.0,
                 peer_configs: list[RistConfig] | None = None) -> None:
        """``outputs``: (address, weight) per configured peer; ``listen``: also accept
        receivers that connect to us (the sender as server)."""
        self.config = config
        self.wire = Wire(config)
        self.listen = listen
        self.wall_offset = wall_offset
        self.ssrc = (ssrc if ssrc is not None else random_ssrc()) & ~1
        self.seq = int.from_bytes(self.ssrc.to_bytes(4, "big")[1:3], "big")
        self.peers: dict[tuple[str, int], Peer] = {}
        for addr, weight in outputs:
            peer = self.wire.new_peer(addr, configured=True, weight=weight)
            self.peers[peer.rtcp_addr] = peer
        self.stats = SenderStats()
        self._history: dict[int, list] = {}        # seq -> [rtp bytes, sent, last retransmit]
        self._order: deque[tuple[float, int]] = deque()
        self._keep = config.buffer + 2 * config.rtt_max
        self._out: list[Datagram] = []
        self._logged: set[str] = set()
        self._fec_block: list[bytes] = []          # source packets of the open FEC block
        self._fec_carry = 0.0
        self._fec_seq = 0
        self._fec_id = 0

    # -- media ----------------------------------------------------------------------------
    def send(self, payload: bytes | memoryview, now: float, timestamp: int | None = None) -> None:
        ts = int(now * 90000) if timestamp is None else timestamp
        packet = _RTP.pack(0x80, PT_MP2T, self.seq, ts & 0xFFFFFFFF, self.ssrc) + bytes(payload)
        self._remember(self.seq, packet, now)
        self.seq = (self.seq + 1) & 0xFFFF
        self.stats.sent += 1
        targets = self._targets(now)
        for peer in targets:
            self._out.append(self.wire.encode(packet, peer, rtcp=False))
            peer.sent += 1
            self.stats.datagrams += 1
            self.stats.bytes_sent += len(packet)
        if self.config.fec:
            self._fec_add(packet, targets)

    def _fec_add(self, packet: bytes, targets) -> None:
        """RaptorQ repair (``fec=`` percent) over every ``fec-block`` packets, sent in the
        data flow as PT 118 packets (Strata receivers rebuild losses before NACKing)."""
        from strata_roq.fec.packets import make_repair_packet
        from strata_roq.fec.raptor import BlockEncoder, RepairHeader

        block = self._fec_block
        block.append(packet)
        if len(block) < self.config.fec_block:
            return
        self._fec_block = []
        want = len(block) * self.config.fec / 100.0 + self._fec_carry
        count = int(want)
        self._fec_carry = want - count
        if not count:
            return
        encoder = BlockEncoder(block)
        seqs = tuple((p[2] << 8) | p[3] for p in block)
        self._fec_id = (self._fec_id + 1) & 0xFFFF
        header = RepairHeader(self._fec_id, seqs[0], seqs, encoder.symbol_size).encode()
        ts = int.from_bytes(block[0][4:8], "big")
        for symbol in encoder.repair(count):
            # the low SSRC bit marks RIST retransmissions: repair packets keep the flow's SSRC
            repair = make_repair_packet(header, symbol, ssrc=self.ssrc, seq=self._fec_seq,
                                        timestamp=ts, mark_ssrc=False)
            self._fec_seq = (self._fec_seq + 1) & 0xFFFF
            for peer in targets:
                self._out.append(self.wire.encode(repair, peer, rtcp=False))
                self.stats.datagrams += 1
                self.stats.bytes_sent += len(repair)
            self.stats.fec_packets += 1

    def _remember(self, seq: int, packet: bytes, now: float) -> None:
        self._history[seq] = [packet, now, -1e9]
        self._order.append((now, seq))
        while self._order and (now - self._order[0][0] > self._keep
                               or len(self._order) > MAX_HISTORY):
            sent, old = self._order.popleft()
            item = self._history.get(old)
            if item is not None and item[1] == sent:  # not since reused by a newer packet
                del self._history[old]

    def _targets(self, now: float) -> list[Peer]:
        peers = list(self.peers.values())
        live = [p for p in peers if p.alive(now, self.config.session_timeout)]
        if not live:
            self.stats.no_live_peer += 1
            live = peers
        dup = [p for p in live if p.weight == 0]
        shared = [p for p in live if p.weight > 0]
        if shared:  # smooth weighted round-robin (one of the weighted peers gets it)
            total = sum(p.weight for p in shared)
            for p in shared:
                p.credit += p.weight
            best = max(shared, key=lambda p: p.credit)
            best.credit -= total
            dup.append(best)
        return dup

    # -- feedback -------------------------------------------------------------------------
    def datagram_received(self, data: bytes | memoryview, addr: tuple[str, int], now: float,
                          rtcp_socket: bool = True) -> None:
        try:
            packet = self.wire.decode(data)
        except ParseError as exc:
            self._bad("bad_packets", f"dropped a malformed datagram from {addr}: {exc}")
            return
        if packet.protocol != gre.PROTO_REDUCED:
            self.stats.oob_packets += 1
            return
        peer = self.peers.get(addr)
        if peer is None:
            if not self.listen:
                self._bad("bad_packets", f"ignored a datagram from unknown {addr}")
                return
            peer = self.wire.new_peer(addr, configured=False, rtcp_addr=addr)
            if not self.wire.main:
                peer.addr = (addr[0], addr[1] & ~1)
            peer.next_report = now
            self.peers[addr] = peer
        body = packet.payload
        if packet.encrypted and peer.configured and packet.dst_port & ~1 != peer.local_vport:
            self._bad("decrypt_errors", f"packet from {addr} did not decrypt: wrong secret?")
            return
        if not is_rtcp(body):
            self._bad("bad_packets", f"ignored a non-RTCP datagram from {addr}")
            return
        try:
            packets = rtcp.parse_rtcp_compound(body)
        except ParseError as exc:
            self._bad("decrypt_errors" if packet.encrypted else "bad_packets",
                      f"dropped bad RTCP from {addr}: {exc}")
            return
        if self.wire.main:
            self.wire.learn_ports(peer, packet)
        was_dead = not peer.alive(now, self.config.session_timeout)
        peer.heard(now)
        if was_dead:
            log.info("RIST peer %s is back", addr)
        for p in packets:
            if isinstance(p, rtcp.RistRangeNack):
                self._retransmit(p.seqs(), peer, now)
            elif isinstance(p, rtcp.GenericNack):
                self._retransmit(p.seqs(), peer, now)
            elif isinstance(p, rtcp.ReceiverReport):
                for block in p.reports:  # librist leaves the block's SSRC word uninitialised
                    rtt = rtt_from_report(ntp_middle32(ntp_from_seconds(now + self.wall_offset)),
                                          block.lsr, block.dlsr)
                    if rtt is not None:
                        peer.update_rtt(rtt)
            else:
                answer_common_rtcp(p, peer, now, ssrc=self.ssrc, cname=self.config.cname,
                                   wall_offset=self.wall_offset, wire=self.wire, out=self._out)

    def _retransmit(self, seqs: list[int], peer: Peer, now: float) -> None:
        self.stats.nacks_received += len(seqs)
        guard = self.config.clamp_rtt(peer.rtt)
        for seq in seqs:
            item = self._history.get(seq)
            if item is None:
                self.stats.nack_unknown += 1
                continue
            if now - item[2] < guard:
                self.stats.nack_too_soon += 1
                continue
            item[2] = now
            original = item[0]
            packet = original[:8] + (self.ssrc | 1).to_bytes(4, "big") + original[12:]
            self._out.append(self.wire.encode(packet, peer, rtcp=False))
            self.stats.retransmitted += 1
            self.stats.retransmitted_bytes += len(packet)

    # -- timers ---------------------------------------------------------------------------
    def handle_timer(self, now: float) -> None:
        for peer in list(self.peers.values()):
            if now < peer.next_report:
                continue
            peer.next_report = now + self.config.keepalive_interval
            if not peer.configured and not peer.alive(now, 20 * self.config.session_timeout):
                del self.peers[peer.rtcp_addr]
                continue
            ntp = ntp_from_seconds(now + self.wall_offset)
            report = rtcp.build_rtcp_compound(
                [rtcp.SenderReport(self.ssrc, ntp, int(now * 90000) & 0xFFFFFFFF, 0, 0),
                 self._sdes(), rtcp.RistEcho(self.ssrc, ntp)])
            self._out.append(self.wire.encode(report, peer, rtcp=True))

    def next_timer(self) -> float | None:
        return min((p.next_report for p in self.peers.values()), default=None)

    def datagrams_to_send(self) -> list[Datagram]:
        out, self._out = self._out, []
        return out

    def stats_dict(self, now: float) -> dict:
        d = self.stats.as_dict()
        d["peers"] = [{"address": f"{p.addr[0]}:{p.addr[1]}", "cname": p.cname, "weight": p.weight,
                       "alive": p.last_heard is not None and p.alive(now, self.config.session_timeout),
                       "sent": p.sent,
                       "key_rotations": p.encryptor.rotations if p.encryptor else None,
                       "rtt": round(1000 * p.rtt_last, 3) if p.rtt_last is not None else None,
                       "avg_rtt": round(1000 * p.rtt, 3) if p.rtt is not None else None}
                      for p in self.peers.values()]
        return d

    def _sdes(self) -> rtcp.Sdes:
        return rtcp.Sdes.cname(self.ssrc, self.config.cname)

    def _bad(self, counter: str, message: str) -> None:
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        if counter not in self._logged:
            self._logged.add(counter)
            log.warning("%s (further ones are only counted)", message)
