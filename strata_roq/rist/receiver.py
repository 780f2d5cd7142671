"""Sans-I/O RIST receiver (TR-06-1 Simple / TR-06-2 Main Profile), librist-compatible.

Feed it datagrams with their arrival time; it hands back RTP packets in sequence order
(:meth:`take_delivered`), datagrams to send (:meth:`datagrams_to_send`: RTCP reports, NACKs,
echo replies) and the time it next needs to run (:meth:`next_timer`). No sockets, no clock.

Recovery follows librist 0.2.7: a gap is NACKed once it has waited ``reorder-buffer``, then
again every 1.1 × RTT (RTT clamped to ``rtt-min``..``rtt-max``) up to ``max-retries``; a
packet still missing when its ``buffer`` deadline passes is given up (``lost``) and the
packets behind it move on. Packets from several peers (bonded senders) merge into one flow
by sequence number; copies are counted as duplicates. Malformed input is counted, never raised.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import asdict, dataclass

from strata_roq.errors import ParseError
from strata_roq.fec.packets import FEC_PAYLOAD_TYPE
from strata_roq.fec.receiver import FecReceiver
from strata_roq.rist import gre
from strata_roq.rist.config import RistConfig
from strata_roq.rist.peer import Datagram, Peer, Wire, answer_common_rtcp, random_ssrc
from strata_roq.rtp import rtcp
from strata_roq.rtp.ntp import ntp_from_seconds, ntp_middle32, seconds_to_short
from strata_roq.rtp.packet import RTP_HEADER_SIZE, is_rtcp
from strata_roq.rtp.seq import SeqUnwrapper

log = logging.getLogger(__name__)

#: A jump larger than this is a new stream (sender restart), not a gap to recover.
MAX_GAP = 8192
#: Range NACK records per RTCP packet (librist sends at most 200 sequence numbers).
MAX_NACK_SEQS = 200


@dataclass(slots=True)
class ReceiverStats:
    """Counters with librist's names where the meaning is the same."""

    received: int = 0            # data packets accepted (first copies, incl. recovered)
    recovered_total: int = 0     # gaps filled by a retransmission
    missing: int = 0             # sequence numbers found missing (before recovery)
    lost: int = 0                # given up: their deadline passed
    dropped_late: int = 0        # arrived after their place was given up
    duplicates: int = 0
    reordered: int = 0
    retries: int = 0             # sequence numbers NACKed (each retry counts)
    nack_packets: int = 0
    delivered: int = 0
    bytes_received: int = 0
    bad_packets: int = 0         # malformed GRE/RTP/RTCP
    decrypt_errors: int = 0      # garbage after decryption: wrong secret
    unencrypted_refused: int = 0
    oob_packets: int = 0         # librist out-of-band (GRE 0x0800) and keep-alives
    other_ssrc: int = 0          # data from an SSRC that is not the flow's
    resyncs: int = 0             # sender restarts / huge jumps
    fec_packets: int = 0         # RaptorQ repair packets received (a Strata sender, fec=)
    fec_recovered: int = 0       # gaps filled by FEC, before any NACK could
    buffer_time_total: float = 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        held = d.pop("buffer_time_total")
        d["avg_buffer_time"] = round(1000 * held / self.delivered, 3) if self.delivered else 0.0
        return d


@dataclass(slots=True)
class _Missing:
    detected: float
    deadline: float
    next_nack: float
    retries: int = 0


class RistReceiver:
    def __init__(self, config: RistConfig, *, connect_to: list[tuple[str, int]] = (),
                 wall_offset: float = 0.0) -> None:
        self.config = config
        self.wire = Wire(config)
        self.wall_offset = wall_offset
        self.ssrc = random_ssrc()
        self.peers: dict[tuple[str, int], Peer] = {}
        for addr in connect_to:  # receiver as client: we speak first
            peer = self.wire.new_peer(addr, configured=True)
            peer.local_vport = config.virt_dst_port   # a receiver's data port is 1968
            self.peers[peer.rtcp_addr] = peer
        self.stats = ReceiverStats()
        self.flow_ssrc: int | None = None
        self._unwrap = SeqUnwrapper()
        self._slots: dict[int, tuple[bytes, float]] = {}
        self._missing: dict[int, _Missing] = {}
        self._given_up: OrderedDict[int, None] = OrderedDict()
        self._fec = FecReceiver()
        self._next: int | None = None
        self._highest: int | None = None
        self._last_data = 0.0
        self._out: list[Datagram] = []
        self._delivered: list[bytes] = []
        self._logged: set[str] = set()
        self._last_sr: dict[int, tuple[int, float]] = {}   # ssrc -> (LSR middle32, arrival)

    # -- public API ---------------------------------------------------------------------
    def datagram_received(self, data: bytes | memoryview, addr: tuple[str, int], now: float,
                          rtcp_socket: bool = False) -> None:
        try:
            packet = self.wire.decode(data)
        except ParseError as exc:
            self._bad("bad_packets", f"dropped a malformed datagram from {addr}: {exc}")
            if "secret" in str(exc):
                self.stats.unencrypted_refused += 1
            return
        if packet.protocol != gre.PROTO_REDUCED:
            self.stats.oob_packets += 1
            return
        body = packet.payload
        if packet.encrypted and packet.dst_port & ~1 != self.config.virt_dst_port:
            # Decrypted virtual ports are the cheapest check that the secret is right.
            self._bad("decrypt_errors", f"packet from {addr} did not decrypt: wrong secret?")
            return
        if len(body) < 8 or body[0] >> 6 != 2:
            if packet.encrypted:
                self._bad("decrypt_errors", f"packet from {addr} did not decrypt: wrong secret?")
            else:
                self._bad("bad_packets", f"dropped a non-RTP datagram from {addr}")
            return
        if is_rtcp(body) or (rtcp_socket and not self.wire.main):
            peer = self._peer_for(addr, now)
            if self.wire.main:
                self.wire.learn_ports(peer, packet)
            self._on_rtcp(body, peer, now, packet.encrypted)
        else:
            if self.wire.main:
                peer = self._peer_for(addr, now)
                peer.extra["data"] = peer.extra.get("data", 0) + 1
                peer.last_heard = now
            self._on_data(body, now)

    def handle_timer(self, now: float) -> None:
        self._send_nacks(now)
        self._deliver(now)
        for peer in list(self.peers.values()):
            if now >= peer.next_report:
                peer.next_report = now + self.config.keepalive_interval
                if peer.configured or peer.alive(now, self.config.session_timeout * 20):
                    self._send_report(peer, now)
                elif not peer.configured:
                    del self.peers[peer.rtcp_addr]   # long gone: forget it

    def next_timer(self) -> float | None:
        times = [p.next_report for p in self.peers.values()]
        times += [m.next_nack for m in self._missing.values() if m.retries < self.config.max_retries]
        if self._next is not None and self._next in self._missing:
            times.append(self._missing[self._next].deadline)
        return min(times) if times else None

    def datagrams_to_send(self) -> list[Datagram]:
        out, self._out = self._out, []
        return out

    def take_delivered(self) -> list[bytes]:
        """RTP packets (original SSRC, in sequence order) ready for the output."""
        out, self._delivered = self._delivered, []
        return out

    def live_peers(self, now: float) -> list[Peer]:
        return [p for p in self.peers.values()
                if p.last_heard is not None and p.alive(now, self.config.session_timeout)]

    def stats_dict(self, now: float) -> dict:
        d = self.stats.as_dict()
        rtts = [p.rtt for p in self.peers.values() if p.rtt is not None]
        d["rtt"] = round(1000 * min(rtts), 3) if rtts else None
        total = d["received"] + d["lost"]
        d["quality"] = round(100.0 * d["received"] / total, 3) if total else 100.0
        if self.wire.decryptor is not None:
            d["psk_keys"] = self.wire.decryptor.derived
        d["peers"] = [{"address": f"{p.addr[0]}:{p.addr[1]}", "cname": p.cname,
                       "alive": p.alive(now, self.config.session_timeout) and p.last_heard is not None,
                       "rtt": round(1000 * p.rtt, 3) if p.rtt is not None else None,
                       "received": p.received + p.extra.get("data", 0)}
                      for p in self.peers.values()]
        return d

    # -- data path ------------------------------------------------------------------------
    def _on_data(self, body, now: float, rebuilt: bool = False) -> None:
        if len(body) < RTP_HEADER_SIZE:
            self._bad("bad_packets", "dropped an RTP packet shorter than its header")
            return
        if body[1] & 0x7F == FEC_PAYLOAD_TYPE:     # RaptorQ repair from a Strata sender
            self.stats.fec_packets += 1
            for packet in self._fec.on_repair(bytes(body)):
                self._on_data(packet, now, rebuilt=True)
            return
        ssrc = int.from_bytes(body[8:12], "big")
        retransmission = bool(ssrc & 1)
        base = ssrc & ~1
        if self.flow_ssrc is None or (base != self.flow_ssrc
                                      and now - self._last_data > self.config.session_timeout):
            if self.flow_ssrc is not None:
                self.stats.resyncs += 1
                self._reset_flow(now)
            self.flow_ssrc = base
        elif base != self.flow_ssrc:
            self.stats.other_ssrc += 1
            return
        self._last_data = now
        seq = (body[2] << 8) | body[3]
        ext = self._unwrap.unwrap(seq)
        if self._next is None:
            self._next = self._highest = ext
        elif self._highest is not None and ext - self._highest > MAX_GAP:
            self.stats.resyncs += 1
            self._reset_flow(now)
            self._unwrap = SeqUnwrapper()
            ext = self._unwrap.unwrap(seq)
            self._next = self._highest = ext
        if ext < self._next or ext in self._slots:
            if ext in self._given_up:
                self.stats.dropped_late += 1
            else:
                self.stats.duplicates += 1
            return
        if ext in self._missing:
            del self._missing[ext]
            if rebuilt:
                self.stats.fec_recovered += 1
            elif retransmission:
                self.stats.recovered_total += 1
            else:
                self.stats.reordered += 1
        elif ext > self._highest + 1:
            deadline = now + self.config.buffer
            first_nack = now + self.config.reorder_buffer
            for s in range(self._highest + 1, ext):
                self._missing[s] = _Missing(now, deadline, first_nack)
            self.stats.missing += ext - self._highest - 1
        self._highest = max(self._highest, ext)
        self.stats.received += 1
        self.stats.bytes_received += len(body)
        if retransmission:  # hand on the packet as the sender first sent it
            body = bytes(body[:11]) + bytes((body[11] & 0xFE,)) + bytes(body[12:])
        self._slots[ext] = (bytes(body), now)
        if not rebuilt and self._fec.stats.repair_packets:    # a Strata sender sends repair
            for packet in self._fec.on_media(seq, self._slots[ext][0]):
                self._on_data(packet, now, rebuilt=True)
        self._deliver(now)

    def _deliver(self, now: float) -> None:
        while self._next is not None and self._next <= self._highest:
            item = self._slots.pop(self._next, None)
            if item is not None:
                self._delivered.append(item[0])
                self.stats.delivered += 1
                self.stats.buffer_time_total += now - item[1]
            else:
                gap = self._missing.get(self._next)
                if gap is not None and gap.deadline > now:
                    return
                self._missing.pop(self._next, None)
                self.stats.lost += 1
                self._given_up[self._next] = None
                if len(self._given_up) > 4 * MAX_GAP:
                    self._given_up.popitem(last=False)
            self._next += 1

    def _reset_flow(self, now: float) -> None:
        """Hand on what is held, forget the old sequence space."""
        self._fec = FecReceiver()
        for ext in sorted(self._slots):
            self._delivered.append(self._slots[ext][0])
            self.stats.delivered += 1
        self.stats.lost += len(self._missing)
        self._slots.clear()
        self._missing.clear()
        self._given_up.clear()
        self._unwrap = SeqUnwrapper()
        self._next = self._highest = None

    # -- recovery -------------------------------------------------------------------------
    def _send_nacks(self, now: float) -> None:
        if not self._missing:
            return
        peer = self._nack_peer(now)
        rtt = self.config.clamp_rtt(peer.rtt if peer else None)
        due: list[int] = []
        for ext, m in self._missing.items():
            if m.next_nack > now or m.retries >= self.config.max_retries:
                continue
            # Past min-retries, ask only if an answer can still beat the deadline.
            if now >= m.deadline or (m.retries >= self.config.min_retries
                                     and now + rtt > m.deadline):
                m.retries = self.config.max_retries
                continue
            m.retries += 1
            m.next_nack = now + 1.1 * rtt
            due.append(ext)
        if not due or peer is None or self.flow_ssrc is None:
            return
        self.stats.retries += len(due)
        for i in range(0, len(due), MAX_NACK_SEQS):
            chunk = [e & 0xFFFF for e in due[i:i + MAX_NACK_SEQS]]
            if self.config.nack_type == "bitmask":
                nack = rtcp.GenericNack.from_seqs(self.ssrc, self.flow_ssrc, chunk)
            else:
                nack = rtcp.RistRangeNack.from_seqs(self.flow_ssrc, chunk)
            packet = rtcp.build_rtcp_compound(
                [rtcp.ReceiverReport(self.ssrc), rtcp.Sdes.cname(self.ssrc, self.config.cname), nack])
            self._out.append(self.wire.encode(packet, peer, rtcp=True))
            self.stats.nack_packets += 1

    def _nack_peer(self, now: float) -> Peer | None:
        """NACKs go to the live peer with the lowest RTT (as librist does)."""
        live = self.live_peers(now) or list(self.peers.values())
        if not live:
            return None
        return min(live, key=lambda p: p.rtt if p.rtt is not None else 1e9)

    # -- RTCP -----------------------------------------------------------------------------
    def _peer_for(self, addr: tuple[str, int], now: float) -> Peer:
        peer = self.peers.get(addr)
        if peer is None:
            peer = self.wire.new_peer(addr, configured=False, rtcp_addr=addr)
            if not self.wire.main:  # Simple Profile: we only learn the peer's RTCP address
                peer.addr = addr
            peer.next_report = now   # answer at once: a librist sender waits for our SDES
            self.peers[addr] = peer
        return peer

    def _on_rtcp(self, body, peer: Peer, now: float, encrypted: bool) -> None:
        try:
            packets = rtcp.parse_rtcp_compound(body)
        except ParseError as exc:
            if encrypted:
                self._bad("decrypt_errors", f"RTCP from {peer.addr} did not decrypt: {exc}")
            else:
                self._bad("bad_packets", f"dropped bad RTCP from {peer.addr}: {exc}")
            return
        peer.heard(now)
        for p in packets:
            if isinstance(p, rtcp.SenderReport):
                self._last_sr[p.ssrc] = (ntp_middle32(p.ntp_timestamp), now)
                peer.ssrc = p.ssrc
            else:
                answer_common_rtcp(p, peer, now, ssrc=self.ssrc, cname=self.config.cname,
                                   wall_offset=self.wall_offset, wire=self.wire, out=self._out)

    def _send_report(self, peer: Peer, now: float) -> None:
        blocks = []
        # The report block (LSR/DLSR) waits for the peer's first echo response: librist's
        # sender takes an RR's LSR/DLSR as an RTT sample until it has seen an echo request,
        # and computes it from fields a sender never fills — one bogus sample (0..1000 ms)
        # that it keeps. Clamped to 500 ms, it let librist retransmit each packet once per
        # 500 ms buffer ("bloat skip" of every further NACK). Its answer to our echo request
        # proves it has seen one, and from then on it ignores LSR/DLSR.
        if peer.ssrc is not None and peer.ssrc in self._last_sr and peer.rtt is not None:
            lsr, at = self._last_sr[peer.ssrc]
            blocks.append(rtcp.ReportBlock(peer.ssrc, highest_seq=(self._highest or 0) & 0xFFFFFFFF,
                                           lsr=lsr, dlsr=seconds_to_short(now - at)))
        ntp = ntp_from_seconds(now + self.wall_offset)
        packet = rtcp.build_rtcp_compound(
            [rtcp.ReceiverReport(self.ssrc, blocks), rtcp.Sdes.cname(self.ssrc, self.config.cname),
             rtcp.RistEcho(self.ssrc, ntp)])
        self._out.append(self.wire.encode(packet, peer, rtcp=True))

    def _bad(self, counter: str, message: str) -> None:
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        if counter not in self._logged:  # log once per kind, count always
            self._logged.add(counter)
            log.warning("%s (further ones are only counted)", message)
