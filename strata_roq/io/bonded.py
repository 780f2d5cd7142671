"""asyncio adapter for bonded sending: one RoQ connection (QUIC) per path, one
:class:`~strata_roq.multipath.bonding.BondedSender` deciding which packet rides which path.

Each path is an ordinary RoQ connection of its own (aioquic has no multipath QUIC), bound
to its own local address or device. The receiver merges by RTP sequence number. Feedback
per path is the receiver's RFC 8888 CCFB on that connection: its (seq, arrival) pairs become
the bonded sender's acknowledgements; a path whose connection fails is marked dead and
redialled in the background, and comes back when it answers.

With ``--fec`` a :class:`~strata_roq.fec.blocks.FecSender` groups the media into blocks;
when one closes (or a dead path's share is topped up) the driver builds its RaptorQ repair
symbols from the packets' bytes and sends them as repair RTP packets
(:mod:`strata_roq.fec.packets`) the scheduler places like media.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable

from aioquic.quic.connection import QuicConnection

from strata_roq.errors import UsageError
from strata_roq.fec.packets import make_repair_packet, rtp_seq
from strata_roq.fec.policy import fec_headroom
from strata_roq.fec.raptor import XOR_TYPE, BlockEncoder, RepairHeader
from strata_roq.fec.xor import parity
from strata_roq.io.roq import RoqSenderProtocol
from strata_roq.multipath.bonding import BondedSender, Transmission
from strata_roq.multipath.path import Path
from strata_roq.roq.sender import is_video_reference
from strata_roq.roq.session import build_join, new_token

log = logging.getLogger(__name__)
REDIAL_INTERVAL = 1.0
# A live path the scheduler leaves unused (a spare LEO dish while Wi-Fi carries everything)
# gets a QUIC PING this often: an idle connection would otherwise reach QUIC's idle timeout
# and close — just when the scheduler turns to it because another path died.
KEEPALIVE_INTERVAL = 1.0


async def open_path(host: str, port: int, config, *, bind: str | None = None,
                    device: str | None = None, mode: str = "frame",
                    timeout: float = 5.0) -> RoqSenderProtocol:
    """One RoQ client connection from ``bind``/``device`` to host:port."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, family=socket.AF_INET)
    except socket.gaierror as exc:
        raise UsageError(f"cannot resolve {host!r}: {exc.strerror}") from None
    addr = infos[0][4]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if device:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode() + b"\0")
        sock.bind((bind or "0.0.0.0", 0))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot bind a path to {bind or device}: {exc.strerror}") from None
    connection = QuicConnection(configuration=config)
    _, protocol = await loop.create_datagram_endpoint(
        lambda: RoqSenderProtocol(connection, mode=mode), sock=sock)
    began = loop.time()
    protocol.connect(addr)
    waiter = protocol._connected_waiter  # noqa: SLF001 - aioquic fails it on close
    try:
        await asyncio.wait_for(protocol.wait_connected(), timeout)
        protocol.handshake_time = loop.time() - began
    except (asyncio.TimeoutError, ConnectionError):
        if waiter is not None:   # it fails later, when the close completes: nobody awaits it
            waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
        protocol.close()
        raise ConnectionError(f"no answer from {host}:{port}") from None
    return protocol


def handshake_rtt(protocol) -> float:
    """The round trip the handshake showed: aioquic's sample, or else the handshake's own
    duration (one round trip plus the peer's work). aioquic takes no sample on a path slower
    than its 200 ms probe timeout (a 600 ms satellite): seeded with nothing, the path was
    judged by a 300 ms guess, declared dead and its first packets lost before the first
    acknowledgement could come, and STORM then left it for good."""
    loss = protocol._quic._loss  # noqa: SLF001 - the handshake's RTT sample
    if loss._rtt_initialized:  # noqa: SLF001
        return loss._rtt_min  # noqa: SLF001
    return protocol.handshake_time


class BondedDriver:
    """Feeds a BondedSender with packets and feedback and carries its transmissions."""

    def __init__(self, paths: list[Path], sender: BondedSender, dial,
                 token: bytes | None = None, ssrc: int = 0, fec=None) -> None:
        self.paths = paths
        self.token = token or new_token()        # joins the paths at the receiver
        self.ssrc = ssrc
        #: The one clock every step reads (a benchmark or test drives it in virtual time).
        self.clock: Callable[[], float] = time.monotonic
        self.radio = None                        # a RadioFeed, when --path-metrics is given
        self.left_out: set[int] = set()          # paths that could not even bind
        self.disconnects = [0] * len(paths)      # connections lost (closed, timed out)
        self.sender = sender
        self.dial = dial                         # async (index) -> RoqSenderProtocol
        self.protocols: list[RoqSenderProtocol | None] = [None] * len(paths)
        self._frames: dict[int, object] = {}     # SchedPacket.frame -> MediaFrame
        self._ending: dict[int, object] = {}     # complete frames waiting for their FIN
        self._data: dict[int, bytes] = {}        # seq -> RTP packet
        # per path: (SSRC, RTP seq) -> transmission id (CCFB reports RTP seqs per SSRC)
        self._tids: list[dict[tuple[int, int], int]] = [dict() for _ in paths]
        #: Called with a frame index when a reference picture will not arrive whole: one of
        #: its packets was given up by the scheduler, or a path's RoQ sender lost its stream.
        self.on_reference_lost = None
        sender.on_gone = self._packet_gone
        self.fec = fec                           # a FecSender, or None
        self._fec_seq = 0                        # RTP seq of repair packets
        self._fec_skipped = 0                    # blocks whose bytes were already forgotten
        #: indices of the live paths, as of the last step (read for every packet FEC groups)
        self._live = [p.index for p in paths]
        if fec is not None:
            sender.fec = fec
            fec.on_repairs = self._make_repairs
            fec.headroom = lambda: fec_headroom(sender.backlog_seconds(),
                                                fec.policy.max_overhead)
            fec.repair_paths = lambda deadline: sender.paths_in_time(
                1400, deadline, self.clock())
        self._task: asyncio.Task | None = None
        self._redial: list[asyncio.Task | None] = [None] * len(paths)
        self._last_sent = [0.0] * len(paths)    # last packet (or PING) on each connection
        self.keepalives = 0
        #: An AggregateRate when the encoder is told a rate (send --rate-to/--api/--tmmbr).
        self.rate = None

    async def start(self) -> None:
        """Dial every path. Paths that cannot bind are bad input (UsageError when none is
        left); paths that get no answer keep being redialled — a receiver that is down at
        start is waited for, and the stream flows on whatever path answers."""
        results = await asyncio.gather(*(self._connect(i) for i in range(len(self.paths))),
                                       return_exceptions=True)
        usage = [r for r in results if isinstance(r, UsageError)]
        if len(usage) == len(self.paths):
            raise usage[0]
        for i, r in enumerate(results):
            if isinstance(r, UsageError):
                log.warning("%s: this path is left out", r)
                self.paths[i].alive = self.paths[i].reachable = False
                self.left_out.add(i)
        if not any(self.protocols):
            log.warning("no path reaches the receiver yet; retrying every %.0f s",
                        REDIAL_INTERVAL)
        self._task = asyncio.ensure_future(self._loop())

    async def _connect(self, i: int) -> None:
        try:
            proto = await self.dial(i)
            # First on the connection: which session this path belongs to.
            proto.rtcp.send(build_join(self.ssrc, self.token, self.paths[i].name))
            proto.transmit()
            proto.roq.on_ccfb = lambda arrivals, now, i=i: self._on_ccfb(i, arrivals, now)
            proto.roq.on_reference_lost = self._reference_lost
            self.protocols[i] = proto
            self._last_sent[i] = self.clock()
            self.paths[i].reachable = True
            self.paths[i].seed_rtt(handshake_rtt(proto))
            self.sender.reset_path(i, self.clock())
            log.info("path %s connected", self.paths[i].name)
        except (ConnectionError, OSError) as exc:
            self.paths[i].alive = self.paths[i].reachable = False
            log.warning("path %s: %s (retrying every %.0f s)", self.paths[i].name, exc,
                        REDIAL_INTERVAL)
            self._schedule_redial(i)

    def _schedule_redial(self, i: int) -> None:
        async def later() -> None:
            await asyncio.sleep(REDIAL_INTERVAL)
            self._redial[i] = None
            await self._connect(i)
        if self._redial[i] is None:
            self._redial[i] = asyncio.ensure_future(later())

    def push(self, packet, frame, data: bytes, now: float) -> None:
        self._frames[packet.frame] = frame
        self._data[packet.seq] = data
        if self.rate is not None:
            self.rate.on_media(len(data), now)
        repairs = self.fec.add(packet, now, self._live) if self.fec is not None else ()
        self.sender.push(packet, now)
        for repair in repairs:
            self.sender.push(repair, now)

    def end_frame(self, frame) -> None:
        """The frame is complete at the input; its streams get FIN once every packet of it
        has left the scheduler (pacing may hold some back for a while)."""
        self._ending[frame.index] = frame
        if self.fec is not None:
            now = self.clock()
            for repair in self.fec.end_frame(frame.starts_gop, now):
                self.sender.push(repair, now)

    def _make_repairs(self, block, packets) -> None:
        """Build the bytes of ``packets``, new repair symbols of ``block``."""
        sources = [self._data.get(s) for s in block.seqs]
        if any(d is None for d in sources):
            self._fec_skipped += 1
            return                                  # never sent: _step finds no bytes
        if block.cls == "xor":              # cross-path XOR: one parity of the group
            rtp_seqs = tuple(rtp_seq(d) for d in sources)
            header = RepairHeader(block.id, rtp_seqs[0], rtp_seqs, 0, XOR_TYPE).encode()
            ts = int.from_bytes(sources[0][4:8], "big")
            par = parity(sources)
            for packet in packets:
                data = make_repair_packet(header, par, ssrc=self.ssrc,
                                          seq=self._fec_seq, timestamp=ts)
                self._fec_seq = (self._fec_seq + 1) & 0xFFFF
                packet.size = len(data)
                self._data[packet.seq] = data
            return
        if block.encoder is None:
            rtp_seqs = tuple(rtp_seq(d) for d in sources)
            encoder = BlockEncoder(sources)
            header = RepairHeader(block.id, rtp_seqs[0], rtp_seqs, encoder.symbol_size)
            block.encoder = (encoder, header.encode(), int.from_bytes(sources[0][4:8], "big"))
        encoder, header, ts = block.encoder
        for packet, symbol in zip(packets, encoder.repair(len(packets))):
            data = make_repair_packet(header, symbol, ssrc=self.ssrc, seq=self._fec_seq,
                                      timestamp=ts)
            self._fec_seq = (self._fec_seq + 1) & 0xFFFF
            packet.size = len(data)
            self._data[packet.seq] = data

    def _finish_frames(self, now: float) -> bool:
        ended = False
        for index, frame in list(self._ending.items()):
            if frame.deadline <= now or not self.sender.frame_queued(index):
                del self._ending[index]
                ended = True
                for proto in self.protocols:
                    if proto is not None:
                        proto.roq.end_frame(frame)
        return ended

    def _packet_gone(self, packet) -> None:
        frame = self._frames.get(packet.frame)
        if frame is not None and is_video_reference(frame):
            self._reference_lost(frame.index)

    def _reference_lost(self, index: int) -> None:
        if self.on_reference_lost is not None:
            self.on_reference_lost(index)

    def kick(self) -> None:
        self._step(self.clock())

    def _step(self, now: float) -> None:
        self._check_connections()
        if self.fec is not None:
            for repair in self.fec.flush(now):
                self.sender.push(repair, now)
            self.fec.forget(now)
        self._transport_rates()
        sent_on = set()
        for t in self.sender.poll(now):
            proto = self.protocols[t.path]
            data = self._data.get(t.packet.seq)
            if proto is None or data is None:
                continue
            if t.packet.repair:
                proto.roq.send_redundancy(data)     # a lost repair is never waited for
            else:
                # A probe (a copy of a recent packet) or a lost packet sent again: its frame's
                # stream on this path may have its FIN already, and RoQ drops what comes
                # after FIN — silently to us, so each such repair cost another loss timeout
                # and, at a path's death, key frames missed their deadline. The connection's
                # long stream, ranked first, carries them.
                late = t.probe or t.packet.retransmission
                proto.roq.send(data, None if late else self._frames.get(t.packet.frame), now)
            rtp_seq = (data[2] << 8) | data[3]
            self._tids[t.path][(int.from_bytes(data[8:12], "big"), rtp_seq)] = t.id
            if self.rate is not None:
                self.rate.on_sent(t.path, rtp_seq, len(data), now)
            sent_on.add(t.path)
        ended = self._finish_frames(now)
        self._live = [p.index for p in self.paths if p.alive]
        for i, proto in enumerate(self.protocols):
            if proto is None:
                continue
            if i in sent_on:
                self._last_sent[i] = now
            elif self.paths[i].alive and now - self._last_sent[i] > KEEPALIVE_INTERVAL:
                proto.keep_alive()
                self._last_sent[i] = now
                self.keepalives += 1
                sent_on.add(i)
            if ended or i in sent_on:
                proto.transmit()
        self._forget(now)

    def _transport_rates(self) -> None:
        """Each path learns what its QUIC connection lets through now."""
        for path, proto in zip(self.paths, self.protocols):
            path.transport_rate = proto.transport_rate(path.srtt) if proto is not None else None

    def _check_connections(self) -> None:
        for i, proto in enumerate(self.protocols):
            if proto is not None and proto._closed.is_set():  # noqa: SLF001 - aioquic's flag
                why = proto._quic._close_event  # noqa: SLF001 - the ConnectionTerminated
                log.warning("path %s: connection closed (%s)", self.paths[i].name,
                            "no reason known" if why is None else
                            f"error 0x{why.error_code:x}: {why.reason_phrase or 'no phrase'}")
                self.protocols[i] = None
                self.paths[i].alive = self.paths[i].reachable = False
                self.disconnects[i] += 1
                self._schedule_redial(i)

    def _on_ccfb(self, i: int, arrivals: dict, now: float) -> None:
        """CCFB on path ``i``: (RTP seq, arrival) pairs become acknowledgements."""
        if self.rate is not None:
            self.rate.on_feedback(i, [item for items in arrivals.values() for item in items],
                                  now)
        acks = []
        tids = self._tids[i]
        for ssrc, items in arrivals.items():
            for seq, arrival in items:
                if arrival is not None:
                    tid = tids.pop((ssrc, seq), None)
                    if tid is not None:
                        acks.append((tid, arrival))
        if acks:
            self.sender.on_feedback(i, acks, now)
        else:
            self.paths[i].on_feedback(now)

    def _forget(self, now: float) -> None:
        if len(self._data) > 20000:            # keep a bounded window of payloads
            for seq in list(self._data)[:len(self._data) - 10000]:   # oldest first
                del self._data[seq]
        for tids in self._tids:                # never acknowledged (lost, or path gone)
            if len(tids) > 20000:
                for key in list(tids)[:len(tids) - 10000]:
                    del tids[key]
        if len(self._frames) > 2000:
            for f in sorted(self._frames)[:len(self._frames) - 1000]:
                del self._frames[f]

    async def _loop(self) -> None:
        while True:
            now = self.clock()
            self.sender.check_timeouts(now)
            self._step(now)
            nxt = self.sender.next_timer(now)
            delay = 0.005 if nxt is None else min(max(nxt - now, 0.0005), 0.005)
            await asyncio.sleep(delay)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for task in self._redial:
            if task is not None:
                task.cancel()
        for proto in self.protocols:
            if proto is not None:
                proto.close()

    def stats(self) -> dict:
        out = {"session": self.token.hex(), "decisions": dict(self.sender.counters),
               "cc": self.sender.cc,
               "keepalives": self.keepalives,
               "paths": [{"name": p.name, "alive": p.alive, "sent": p.sent_packets,
                          "left_out": p.index in self.left_out,
                          "disconnects": self.disconnects[p.index], "sole_copies": p.sole_copies, "weak_signal": p.radio_weak,
                          "rsrp": p.rsrp, "rsrq": p.rsrq, "sinr": p.sinr,
                          "lost": p.lost_packets, "deaths": p.deaths, "revivals": p.revivals,
                          "srtt_ms": round(p.srtt * 1000, 1) if p.srtt else None,
                          "rate_mbps": round(p.delivery_rate * 8 / 1e6, 2),
                          # since its last capacity fall (what the encoder's rate counts on)
                          "carrying_mbps": round(p.carrying_rate * 8 / 1e6, 2),
                          "falls": p.falls,
                          # what the path is given: the model, capped by its controller
                          "pacing_mbps": round(self.sender.pacing_rate(p) * 8 / 1e6, 2),
                          "loss": round(p.loss.rate, 4),
                          "roq": proto.roq.stats.as_dict() if proto is not None else None}
                          for p, proto in zip(self.paths, self.protocols)]}
        if self.radio is not None:
            out["path_metrics"] = self.radio.stats()
        if self.fec is not None:
            out["fec"] = {"mode": self.fec.policy.mode, **dict(self.fec.counters),
                          "blocks_without_bytes": self._fec_skipped}
        return out



