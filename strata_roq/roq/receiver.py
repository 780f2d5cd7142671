"""The receiving half of RoQ: QUIC events in, RTP/RTCP packets out.

Sans-I/O: ``handle_event(event, now)`` returns :class:`RoqPacket` objects. It enforces the
draft's rules: unidirectional streams only (§5.2, else ROQ_STREAM_CREATION_ERROR), a flow id
first on every stream and datagram (§5.1; unknown ids get STOP_SENDING(ROQ_UNKNOWN_FLOW_ID)),
well-formed lengths (else ROQ_PACKET_ERROR closes the connection). A stream that stays open
with no new data for ``latency`` carries a frame that can no longer be on time (its missing
bytes would arrive too late to matter): it gets STOP_SENDING(ROQ_FRAME_CANCELLED) (§5.2.2).
Streams that keep delivering — such as one long stream per flow — are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import DatagramFrameReceived, StreamDataReceived, StreamReset

from strata_roq.roq.framing import RoqErrorCode, RoqProtocolError, StreamParser, parse_datagram
from strata_roq.rtp.packet import is_rtcp


@dataclass(slots=True)
class RoqPacket:
    flow_id: int
    data: bytes
    arrival: float
    stream_id: int | None    # None: it came in a DATAGRAM


@dataclass
class ReceiverStats:
    packets: int = 0
    bytes: int = 0
    streams: int = 0
    datagrams: int = 0
    resets_received: int = 0           # RESET_STREAM from the sender (frame cancelled)
    stop_sending_sent: int = 0
    frames_given_up: int = 0          # per-frame streams dropped because a packet was late
    playout_give_ups: int = 0         # of which: its missing packets' playout time passed
    unknown_flow: int = 0
    protocol_errors: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


#: Streams seen beyond one that has not shown up, before that one is taken as never coming.
MAX_UNSEEN_SPAN = 256


class _Stream:
    __slots__ = ("parser", "last_data", "ignored", "checked", "rtcp", "last")

    def __init__(self, now: float) -> None:
        self.parser = StreamParser()
        self.last_data = now
        self.ignored = False
        self.checked = False   # flow id accepted, first packet seen, not ignored: hot path
        self.rtcp = False      # carries RTCP (§5.4): idle between reports, never "late"
        self.last = b""        # the last packet it delivered


def _ignore(stream: _Stream) -> None:
    stream.ignored = True
    stream.checked = False      # off the hot path: the slow one drops its data


class RoqReceiver:
    def __init__(self, quic: QuicConnection, flows: set[int] | None = None,
                 latency: float | None = None) -> None:
        self.quic = quic
        self.flows = flows            # None: accept every flow id
        self.latency = latency
        self.stats = ReceiverStats()
        self.closed_reason: str | None = None
        self._streams: dict[int, _Stream] = {}
        self._media_streams = 0       # > 1: stream per frame (or hybrid), not one long stream
        self._given_up: dict[int, float] = {}   # stream id -> when (kept one budget long)
        self._unseen_floor: int | None = None   # lowest peer stream id not seen yet
        self._seen_above: set[int] = set()      # stream ids seen above it

    def handle_event(self, event, now: float) -> list[RoqPacket]:
        if type(event) is StreamDataReceived:
            # Hot path, one call per STREAM frame: a known stream of an accepted flow.
            sid = event.stream_id
            stream = self._streams.get(sid)
            if stream is not None and stream.checked and self.closed_reason is None:
                stream.last_data = now
                end = event.end_stream
                if end:
                    del self._streams[sid]
                try:
                    packets = stream.parser.feed(event.data, end)
                except RoqProtocolError as exc:
                    self._close(exc.code, exc.reason)
                    return []
                if not packets:
                    return []
                stats = self.stats
                stats.packets += len(packets)
                stats.bytes += sum(map(len, packets))
                stream.last = packets[-1]
                flow_id = stream.parser.flow_id
                return [RoqPacket(flow_id, p, now, sid) for p in packets]
        if self.closed_reason is not None:
            return []
        try:
            if isinstance(event, StreamDataReceived):
                return self._on_stream_data(event, now)
            if isinstance(event, DatagramFrameReceived):
                flow_id, packet = parse_datagram(event.data)
                self.stats.datagrams += 1
                if self.flows is not None and flow_id not in self.flows:
                    self.stats.unknown_flow += 1
                    return []
                return [self._packet(flow_id, bytes(packet), now, None)]
            if isinstance(event, StreamReset):
                self.stats.resets_received += 1
                self._streams.pop(event.stream_id, None)
                self._seen(event.stream_id)
        except RoqProtocolError as exc:
            self._close(exc.code, exc.reason)
        return []

    def _on_stream_data(self, event: StreamDataReceived, now: float) -> list[RoqPacket]:
        """A new stream, an ignored one, or one whose flow id or first packet is not known
        yet (the hot path in :meth:`handle_event` takes the rest)."""
        sid = event.stream_id
        stream = self._streams.get(sid)
        if stream is None:
            if not sid & 2:  # bidirectional streams never carry RoQ flows (§5.2)
                raise RoqProtocolError(RoqErrorCode.STREAM_CREATION_ERROR,
                                       f"bidirectional stream {sid}")
            stream = self._streams[sid] = _Stream(now)
            self.stats.streams += 1
            self._seen(sid)
        stream.last_data = now
        out: list[RoqPacket] = []
        if not stream.ignored:
            parser = stream.parser
            if stream.checked:
                packets = parser.feed(event.data, event.end_stream)
            else:
                packets = self._first_packets(stream, sid, event)
            if packets:
                stats = self.stats
                stats.packets += len(packets)
                stats.bytes += sum(map(len, packets))
                flow_id = parser.flow_id
                out = [RoqPacket(flow_id, p, now, sid) for p in packets]
                stream.last = packets[-1]
        if event.end_stream:
            self._streams.pop(sid, None)
        return out

    def _first_packets(self, stream: _Stream, sid: int, event: StreamDataReceived) -> list[bytes]:
        """Feed a stream whose flow id or first packet is not known yet: check the flow id
        (unknown ones get STOP_SENDING) and note whether the stream carries RTCP."""
        parser = stream.parser
        had_flow = parser.flow_id is not None
        packets = parser.feed(event.data, event.end_stream)
        flow_id = parser.flow_id
        if flow_id is not None and not had_flow and self.flows is not None \
                and flow_id not in self.flows:
            self.stats.unknown_flow += 1
            _ignore(stream)
            self._stop(sid, RoqErrorCode.UNKNOWN_FLOW_ID)
            return []
        if packets:
            stream.checked = True
            stream.rtcp = is_rtcp(packets[0])
            self._media_streams += not stream.rtcp
        return packets

    def _packet(self, flow_id: int, data: bytes, now: float, sid: int | None) -> RoqPacket:
        self.stats.packets += 1
        self.stats.bytes += len(data)
        return RoqPacket(flow_id, data, now, sid)

    def give_up(self, sid: int | None, now: float) -> bool:
        """The application found a packet of stream ``sid`` past its deadline. When streams
        carry one frame each, the rest of that frame is worthless — its later packets are a
        little younger and would pass a per-packet check, handing the decoder a frame
        without its head, late — so the stream is ignored and the sender asked to stop
        (STOP_SENDING, FRAME_CANCELLED). One long stream per flow carries every later frame
        too and is never given up. Returns whether the stream is (now) given up."""
        if sid is None or self._media_streams < 2:
            return False
        if sid in self._given_up:
            return True
        self._given_up[sid] = now
        self.stats.frames_given_up += 1
        stream = self._streams.get(sid)
        if stream is not None and not stream.ignored:
            _ignore(stream)
            self._stop(sid, RoqErrorCode.FRAME_CANCELLED)
        return True

    def give_up_missing(self, seqs, now: float) -> int:
        """The application skipped RTP packets ``seqs`` (16-bit sequence numbers) that never
        came in time — the playout buffer's give-ups. On a stream per frame each missing
        packet sits in the open stream that delivered up to just before it, which QUIC keeps
        retransmitting: that stream is given up (STOP_SENDING, so the sender stops repairing
        it — RoQ's NACK give-up). Returns how many streams were given up."""
        open_media = self._open_media()
        if not open_media or self._media_streams < 2:
            return 0
        done = 0
        for seq in seqs:
            best = None
            for sid, last in open_media:
                ahead = (seq - last) & 0xFFFF
                if 0 < ahead <= 256 and (best is None or ahead < best[0]):
                    best = (ahead, sid)
            if best is not None and best[1] not in self._given_up:
                self.give_up(best[1], now)
                self.stats.playout_give_ups += 1
                done += 1
        return done

    def _open_media(self) -> list[tuple[int, int]]:
        """(stream id, sequence number of the last packet it delivered) of every open
        media stream that delivered one: where a missing packet may still come from."""
        return [(sid, (st.last[2] << 8) | st.last[3]) for sid, st in self._streams.items()
                if not st.ignored and not st.rtcp and len(st.last) >= 4]

    def _seen(self, sid: int) -> None:
        """Note a peer stream's first sign of life. Streams open in id order, so an id below
        one seen that has not shown up yet is a frame still queued or lost in flight."""
        floor = self._unseen_floor
        if floor is None:
            floor = sid & 3
        if sid < floor:
            return
        seen = self._seen_above
        seen.add(sid)
        if len(seen) > MAX_UNSEEN_SPAN:       # a stream that never shows up: stop waiting
            floor = min(seen)
        while floor in seen:
            seen.discard(floor)
            floor += 4
        self._unseen_floor = floor

    def may_fill(self, seq: int) -> bool:
        """Whether missing RTP packet ``seq`` (16 bits) may still come: on a stream per frame,
        an open frame stream that delivered packets up to before it (QUIC retransmits the
        rest until the stream ends or is reset), a stream opened before one already seen
        (still queued behind more important frames, or its first bytes lost), or one QUIC
        holds bytes of beyond a hole at its start. Newer and more important frames' streams
        overtake these, so a reorder buffer should wait for such a gap."""
        if self._media_streams < 2:
            return False
        if self._seen_above:
            return True            # a stream opened before one seen has not shown up yet
        if any(0 < (seq - last) & 0xFFFF <= 256 for _, last in self._open_media()):
            return True
        for sid, quic_stream in self.quic._streams.items():  # noqa: SLF001 - receive state
            receiver = quic_stream.receiver
            if (sid & 2 and sid not in self._streams and sid not in self._given_up
                    and not receiver.is_finished and receiver._buffer_start == 0  # noqa: SLF001
                    and receiver.highest_offset > 0):
                return True
        return False

    def nothing_before(self, sid: int | None) -> bool:
        """Whether no packet the peer sent before those of stream ``sid`` can still come:
        every stream opened before it has shown up (streams open in id order; one that has
        not may be queued at the sender or have lost its first bytes) and no DATAGRAM has
        come (datagrams can be overtaken). A reorder buffer starting on such a stream's
        first packet knows the sequence's start and need not settle for a window."""
        return sid is not None and not self.stats.datagrams and not self._seen_above

    def given_up(self, sid: int | None) -> bool:
        """Whether packets of stream ``sid`` are to be dropped (see :meth:`give_up`)."""
        return sid is not None and sid in self._given_up

    def expire(self, now: float) -> int:
        """STOP_SENDING streams idle for longer than the latency budget; returns how many."""
        if self.latency is None:
            return 0
        if self._given_up:
            horizon = now - self.latency
            for sid in [k for k, t in self._given_up.items() if t < horizon]:
                del self._given_up[sid]
        stopped = 0
        for sid, stream in list(self._streams.items()):
            if not stream.ignored and not stream.rtcp and now - stream.last_data > self.latency:
                _ignore(stream)
                self._stop(sid, RoqErrorCode.FRAME_CANCELLED)
                stopped += 1
        return stopped

    def _stop(self, sid: int, code: RoqErrorCode) -> None:
        self.quic.stop_stream(sid, code)
        self.stats.stop_sending_sent += 1

    def _close(self, code: RoqErrorCode, reason: str) -> None:
        self.stats.protocol_errors += 1
        self.closed_reason = f"{code.name}: {reason}"
        self.quic.close(error_code=code, reason_phrase=reason)
