"""The sending half of a RoQ flow: media frames onto QUIC streams or DATAGRAMs.

Sans-I/O on top of aioquic's ``QuicConnection`` (itself sans-I/O): ``send(packet, frame,
now)`` queues bytes on the connection, the caller transmits. Mapping modes (§5.2, §5.3):

- ``frame``: one unidirectional stream per media frame, so a lost packet of one frame never
  blocks the next; a frame past its deadline gets RESET_STREAM(ROQ_FRAME_CANCELLED) (§5.2.2);
- ``stream``: one long stream for the flow (simple, but head-of-line blocking);
- ``datagram``: one DATAGRAM per packet (RFC 9221), loss left to the application;
- ``hybrid``: key frames, audio and PSI on streams per frame, P/B-frames as datagrams.

Deadlines (§5.2.2): a frame is cancelled when its deadline passes, or earlier when it can no
longer make it — now + one-way delay (SRTT/2) + the bytes queued ahead of it and its own
unsent bytes at the connection's rate (cwnd/SRTT) > deadline. Priority (:mod:`.priority`)
orders aioquic's stream service queue so key frames, audio and PSI go first and, within a
class, newer frames before older ones (an old frame is the one most likely to be late) —
or in decode order while a capacity fall's excess is held back (:meth:`set_decode_order`).
"""

from __future__ import annotations

import math

from collections import deque
from dataclasses import dataclass, field

from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import DatagramFrameReceived, StopSendingReceived, StreamDataReceived
from aioquic.quic.stream import QuicStreamSender

from strata_roq.media.frames import MediaFrame
from strata_roq.media.nal import FrameKind
from strata_roq.roq.receiver import RoqReceiver
from strata_roq.roq.priority import (TOP, can_open_uni_stream, enable_stream_priority,
                                     set_stream_rank)
from strata_roq.roq.framing import (RoqErrorCode, encode_datagram, encode_stream_record,
                                    encode_varint)
from strata_roq.roq.window_cap import window_cap

MODES = ("frame", "stream", "datagram", "hybrid")
#: Frames at or above this priority ride streams in hybrid mode (key frames, audio, PSI).
HYBRID_STREAM_PRIORITY = 5
#: Silence from the peer for this long (or a probe timeout, if longer) means the path is dark:
#: the receiver acknowledges within its ack delay and reports every 100 ms at the latest.
DARK_AFTER = 0.15


@dataclass
class SenderStats:
    packets: int = 0
    bytes: int = 0
    streams_opened: int = 0
    datagrams: int = 0
    resets_sent: int = 0              # RESET_STREAM(FRAME_CANCELLED) for late frames
    resets_predicted: int = 0         # of which: cancelled before the deadline (hopeless)
    resets_gop_tail: int = 0          # of which: pictures after a lost reference (drop_gop_tail)
    stop_sending_received: int = 0
    dropped_cancelled: int = 0        # packets of frames already cancelled, not sent
    dropped_too_big: int = 0          # packets that did not fit a DATAGRAM
    dropped_late: int = 0             # packets of frames already past their deadline
    dropped_stream_limit: int = 0     # packets of frames the peer had no stream credit for
    references_lost: int = 0          # reference pictures of those that will not arrive whole
    frames_stream_limited: int = 0    # frames not sent: the peer's MAX_STREAMS was reached
    rtcp_received: int = 0            # RTCP compounds from the receiver (§5.4)
    rtcp_errors: int = 0
    ccfb_reports: int = 0             # RFC 8888 feedback blocks
    ccfb_received: int = 0            # packets they said arrived
    ccfb_missing: int = 0             # packets they said had not (yet) arrived

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(slots=True)
class _OpenStream:
    stream_id: int
    deadline: float
    index: int = 0
    important: bool = False
    video_reference: bool = False   # a picture others predict from: losing it matters more
    dependent: bool = False         # a picture predicted from earlier ones of its GOP
    starts_gop: bool = False        # a key frame: decoding restarts here
    last_write: float = 0.0         # when its newest bytes were handed to QUIC
    finished: bool = False
    cancelled: bool = False
    frames: list[int] = field(default_factory=list)
    #: aioquic's send buffer of the stream while packets may still be written to it (not
    #: finished, not cancelled): the hot path writes there directly.
    writer: QuicStreamSender | None = None

    def close(self, *, cancelled: bool) -> None:
        if cancelled:
            self.cancelled = True
        else:
            self.finished = True
        self.writer = None


class RoqSender:
    """Maps packets of :class:`MediaFrame` objects onto one QUIC connection."""

    def __init__(self, quic: QuicConnection, flow_id: int = 0, mode: str = "frame") -> None:
        if mode not in MODES:
            raise ValueError(f"unknown RoQ mode {mode!r} (one of {', '.join(MODES)})")
        self.quic = quic
        self.flow_id = flow_id
        self.mode = mode
        self.stats = SenderStats()
        self._flow_prefix = encode_varint(flow_id)
        self._by_frame: dict[int, _OpenStream] = {}    # frame index → its stream
        self._by_stream: dict[int, _OpenStream] = {}
        self._long_stream: int | None = None
        enable_stream_priority(quic)
        self._return = RoqReceiver(quic)        # RTCP the receiver sends back (§5.4)
        #: Recent CCFB arrivals: (report time, {ssrc: [(seq, arrival or None)]}).
        self.feedback: deque[tuple[float, dict]] = deque(maxlen=64)
        #: Called with (arrivals, now) for every CCFB report (the bonded sender's feedback).
        self.on_ccfb = None
        #: Called with a frame index when a reference picture will not arrive whole (reset,
        #: stopped by the receiver, dropped late or for want of stream credit): the pictures
        #: after it are undecodable until the next key frame (see media.thinning).
        self.on_reference_lost = None
        self._last_lost = -1
        self._last_heard: float | None = None
        #: Called with (RTP seq, bytes, now) when a packet's bytes first leave in a QUIC
        #: packet (see :meth:`on_transmitted`), when set.
        self.on_wire = None
        self._unwired: dict[int, deque] = {}        # stream id -> (end offset, seq, size)
        self._unwired_datagrams: deque = deque()    # (seq, size) in sending order
        #: Frames of a class are served oldest first (see :meth:`set_decode_order`).
        self.decode_order = False

    # -- sending ----------------------------------------------------------------------------
    def send(self, packet: bytes, frame: MediaFrame | None, now: float) -> bool:
        """Queue one RTP/RTCP packet; False if it was dropped (counted in stats)."""
        mode = self.mode
        if frame is not None:
            if frame.deadline <= now:
                self.stats.dropped_late += 1  # better never than late: discard at the sender
                if is_video_reference(frame):
                    self._reference_lost(frame.index)
                return False
            if mode == "frame" or (mode == "hybrid" and frame.priority >= HYBRID_STREAM_PRIORITY):
                state = self._by_frame.get(frame.index)
                if state is not None and (writer := state.writer) is not None:
                    # Hot path: the next packet of a frame whose stream is open.
                    try:
                        writer.write(encode_stream_record(packet))
                    except RuntimeError:      # the peer's STOP_SENDING reset it just now
                        state.close(cancelled=True)
                        self.stats.dropped_cancelled += 1
                        return False
                    if self.on_wire is not None:
                        self._await_wire(state.stream_id, writer, packet)
                    state.last_write = now
                    stats = self.stats
                    stats.packets += 1
                    stats.bytes += len(packet)
                    return True
                return self._send_on_frame_stream(packet, frame, now)
        if mode == "datagram" or (mode == "hybrid" and frame is not None):
            return self._send_datagram(packet)
        return self._send_long(packet)

    def _send_on_frame_stream(self, packet: bytes, frame: MediaFrame, now: float) -> bool:
        state = self._by_frame.get(frame.index)
        if state is None and not can_open_uni_stream(self.quic):
            # The receiver has not released enough streams (MAX_STREAMS, RFC 9000 §4.6): a new
            # stream would wait blocked in aioquic, and resetting a stream beyond the peer's
            # limit is a STREAM_LIMIT_ERROR. The frame is dropped whole (a partial frame is
            # worthless), known as cancelled until its deadline.
            state = _OpenStream(-1, frame.deadline, frame.index, cancelled=True)
            self._by_frame[frame.index] = state
            self.stats.frames_stream_limited += 1
            if is_video_reference(frame):
                self._reference_lost(frame.index)
        if state is None:
            sid = self.quic.get_next_available_stream_id(is_unidirectional=True)
            state = _OpenStream(sid, frame.deadline, frame.index,
                                frame.priority >= HYBRID_STREAM_PRIORITY,
                                is_video_reference(frame), frames=[frame.index],
                                dependent=is_dependent_picture(frame),
                                starts_gop=frame.starts_gop, last_write=now)
            self._by_frame[frame.index] = state
            self._by_stream[sid] = state
            self.stats.streams_opened += 1
            self.quic.send_stream_data(sid, self._flow_prefix + encode_stream_record(packet))
            state.writer = self.quic._streams[sid].sender  # noqa: SLF001 - see writer
            if self.on_wire is not None:
                self._await_wire(sid, state.writer, packet)
            set_stream_rank(self.quic, sid, self._rank(state))
        else:                                  # cancelled or finished (the rest: hot path)
            if state.stream_id < 0:
                self.stats.dropped_stream_limit += 1
            else:
                self.stats.dropped_cancelled += 1
            return False
        self._count(packet)
        return True

    def _rank(self, state: _OpenStream) -> int:
        # Key frames, audio and PSI first, then the rest; newer before older in each, or
        # older first while the sender keeps a backlog to deliver whole (decode order).
        return (0 if state.important else 1 << 61) + \
            (state.index if self.decode_order else -state.index)

    def set_decode_order(self, on: bool) -> None:
        """Serve frames of a class oldest first (``on``) or newest first (the default).
        Newest first suits a backlog that will not all make it: the freshest pictures go
        and the old ones meet their deadlines. While a capacity fall's excess is kept
        back to be delivered whole (:mod:`.window_cap`), a newer picture is no use before
        the older ones it is predicted from, and the oldest would wait longest: decode
        order keeps the delay the backlog adds even."""
        if on == self.decode_order:
            return
        self.decode_order = on
        for sid, state in self._by_stream.items():
            set_stream_rank(self.quic, sid, self._rank(state))

    def send_redundancy(self, packet: bytes) -> bool:
        """A packet nobody should wait for (an FEC repair): a DATAGRAM when the peer takes
        them and it fits, else the long stream."""
        limit = self.quic._remote_max_datagram_frame_size  # noqa: SLF001 - negotiated limit
        if limit is not None and len(packet) + 8 <= min(limit, self.max_datagram_payload()):
            return self._send_datagram(packet)
        return self._send_long(packet)

    def _send_long(self, packet: bytes) -> bool:
        data = encode_stream_record(packet)
        if self._long_stream is not None:
            try:
                self.quic.send_stream_data(self._long_stream, data)
                self._count(packet)
                if self.on_wire is not None:
                    self._await_wire(self._long_stream, None, packet)
                return True
            except ValueError:        # the receiver stopped it: continue on a new stream
                self._long_stream = None
        self._long_stream = self.quic.get_next_available_stream_id(is_unidirectional=True)
        self.stats.streams_opened += 1
        self.quic.send_stream_data(self._long_stream, self._flow_prefix + data)
        set_stream_rank(self.quic, self._long_stream, TOP)
        self._count(packet)
        if self.on_wire is not None:
            self._await_wire(self._long_stream, None, packet)
        return True

    def _send_datagram(self, packet: bytes) -> bool:
        payload = encode_datagram(self.flow_id, packet)
        limit = self.quic._remote_max_datagram_frame_size  # noqa: SLF001 - negotiated limit
        if limit is None or len(payload) > min(limit, self.max_datagram_payload()):
            self.stats.dropped_too_big += 1
            return False
        self.quic.send_datagram_frame(payload)
        self.stats.datagrams += 1
        self._count(packet)
        if self.on_wire is not None:
            self._unwired_datagrams.append(((packet[2] << 8) | packet[3], len(packet)))
        return True

    # -- when packets leave ------------------------------------------------------------------
    def _await_wire(self, sid: int, writer, packet: bytes) -> None:
        if writer is None:
            writer = self.quic._streams[sid].sender  # noqa: SLF001
        entry = (writer._buffer_stop, (packet[2] << 8) | packet[3], len(packet))  # noqa: SLF001
        waiting = self._unwired.get(sid)
        if waiting is None:
            waiting = self._unwired[sid] = deque()
        waiting.append(entry)

    def on_transmitted(self, now: float) -> None:
        """Call after QUIC wrote its packets: each RTP packet whose bytes have now left goes
        to :attr:`on_wire`. aioquic holds written data behind its congestion window and its
        pacer; stamped when written, a key frame's burst waiting there looked to the
        delay-based estimate like a queue on the path (reported one round trip later as
        queueing, it cut the rate). A stream reset before its data left takes its packets
        with it: they never left."""
        on_wire = self.on_wire
        if on_wire is None:
            return
        streams = self.quic._streams  # noqa: SLF001
        for sid in list(self._unwired):
            waiting = self._unwired[sid]
            stream = streams.get(sid)
            if stream is None or stream.sender._reset_error_code is not None:  # noqa: SLF001
                del self._unwired[sid]
                continue
            sent = stream.sender.highest_offset
            while waiting and waiting[0][0] <= sent:
                _, seq, size = waiting.popleft()
                on_wire(seq, size, now)
            if not waiting:
                del self._unwired[sid]
        waiting = self._unwired_datagrams
        left = len(self.quic._datagrams_pending)  # noqa: SLF001
        while len(waiting) > left:
            seq, size = waiting.popleft()
            on_wire(seq, size, now)

    def max_datagram_payload(self) -> int:
        """Room for a DATAGRAM payload in one QUIC packet (short header, AEAD tag, frame)."""
        return self.quic._max_datagram_size - 40  # noqa: SLF001 - aioquic's packet size

    def _count(self, packet: bytes) -> None:
        self.stats.packets += 1
        self.stats.bytes += len(packet)

    def end_frame(self, frame: MediaFrame) -> None:
        """The frame is complete: close its stream with FIN."""
        state = self._by_frame.get(frame.index)
        if state is not None and state.writer is not None:
            try:
                state.writer.write(b"", end_stream=True)
            except RuntimeError:              # the peer's STOP_SENDING reset it just now
                state.close(cancelled=True)
                return
            state.close(cancelled=False)

    # -- deadlines --------------------------------------------------------------------------
    def _unsent(self, stream_id: int) -> int:
        stream = self.quic._streams.get(stream_id)  # noqa: SLF001
        if stream is None:
            return 0
        return sum(r.stop - r.start for r in stream.sender._pending)  # noqa: SLF001

    def unsent_bytes(self) -> int:
        """Bytes of open frame streams still waiting in QUIC to be sent."""
        return sum(self._unsent(sid) for sid, state in self._by_stream.items()
                   if not state.cancelled)

    def expire(self, now: float) -> int:
        """RESET_STREAM(FRAME_CANCELLED) every stream whose frame is past its deadline, or
        predicted to miss it, and whose data is not all acknowledged; forget finished ones.
        Returns how many were reset."""
        loss = self.quic._loss  # noqa: SLF001 - RTT and congestion window
        srtt = loss._rtt_smoothed if loss._rtt_initialized else 0.0  # noqa: SLF001
        cwnd = loss.congestion_window
        # slow start after a loss; not while a cap holds the window (the controller's own
        # window climbs underneath, the capped one does not)
        ssthresh = None if window_cap(self.quic) is not None else \
            getattr(loss._cc, "ssthresh", None)  # noqa: SLF001
        pto = loss.get_probe_timeout() if loss._rtt_initialized else 1.0  # noqa: SLF001
        sign = 1 if self.decode_order else -1        # the order the streams are served in
        order = sorted(self._by_frame.items(),
                       key=lambda kv: (1 if kv[1].important else 2, sign * kv[1].index))
        ahead = 0
        resets = 0
        for index, state in order:
            unsent = self._unsent(state.stream_id) if not state.cancelled else 0
            ahead += unsent
            if state.deadline <= now:
                # Past the deadline: forget the frame (later packets of it are dropped as late).
                del self._by_frame[index]
                self._by_stream.pop(state.stream_id, None)
            elif state.cancelled or not (srtt > 0 and cwnd > 0 and now + srtt / 2 + transfer_time(
                    ahead, cwnd, srtt, ssthresh) > state.deadline):
                continue
            if state.cancelled:
                continue
            stream = self.quic._streams.get(state.stream_id)  # noqa: SLF001 - delivery state
            if stream is None or stream.sender.is_finished or stream.is_blocked:
                continue  # fully delivered and acknowledged (or never allowed to start)
            # Hopeless frames stay known (cancelled) until their deadline, so their remaining
            # packets are dropped rather than opening a new stream.
            self.quic.reset_stream(state.stream_id, RoqErrorCode.FRAME_CANCELLED)
            state.close(cancelled=True)
            if state.video_reference and (unsent or now - state.last_write > pto):
                # A frame whose bytes all left just now may still arrive whole; a whole probe
                # timeout without an acknowledgement since its last byte was written means
                # lost (an outage: QUIC declares nothing lost until acknowledgements return).
                self._reference_lost(index)
            ahead -= unsent
            resets += 1
            if state.deadline > now:
                self.stats.resets_predicted += 1
        self.stats.resets_sent += resets
        return resets

    def heard(self, now: float) -> None:
        """The peer sent something (any QUIC packet): the path carries traffic back."""
        self._last_heard = now

    def reachable(self, now: float) -> bool:
        """Whether the path seems to deliver: the peer was heard from within a probe timeout
        (at least DARK_AFTER). In an outage nothing comes back, and a key frame sent into it
        is lost like the picture it replaces."""
        if self._last_heard is None:
            return True
        loss = self.quic._loss  # noqa: SLF001 - RTT estimate
        pto = loss.get_probe_timeout() if loss._rtt_initialized else 0.0  # noqa: SLF001
        return now - self._last_heard <= max(pto, DARK_AFTER)

    def drop_gop_tail(self, index: int) -> int:
        """Reference picture ``index`` is lost: reset the streams of the pictures after it up
        to the next key frame (4D-MAP's *decompensate*). None of them can be decoded, and the
        bytes they would still take belong to the key frame that replaces them. Returns how
        many were reset."""
        restart = min((s.index for s in self._by_frame.values()
                       if s.starts_gop and s.index > index), default=None)
        resets = 0
        for later, state in self._by_frame.items():
            if (later <= index or (restart is not None and later >= restart)
                    or not state.dependent or state.cancelled):
                continue
            stream = self.quic._streams.get(state.stream_id)  # noqa: SLF001 - delivery state
            if stream is None or stream.sender.is_finished or stream.is_blocked:
                continue
            self.quic.reset_stream(state.stream_id, RoqErrorCode.FRAME_CANCELLED)
            state.close(cancelled=True)
            resets += 1
        self.stats.resets_gop_tail += resets
        self.stats.resets_sent += resets
        return resets

    def next_deadline(self) -> float | None:
        """When :meth:`expire` next has work (for the caller's timer)."""
        return min((s.deadline for s in self._by_frame.values()), default=None)

    def handle_event(self, event, now: float = 0.0) -> None:
        """Feed QUIC events: STOP_SENDING(FRAME_CANCELLED) from the receiver cancels a frame;
        RTCP on the receiver's streams or datagrams is read (CCFB arrivals are kept)."""
        if isinstance(event, (StreamDataReceived, DatagramFrameReceived)):
            for packet in self._return.handle_event(event, now):
                self._on_rtcp(packet.data, now)
            return
        if isinstance(event, StopSendingReceived):
            self.stats.stop_sending_received += 1
            if event.stream_id == self._long_stream:
                self._long_stream = None      # the next packet opens a new one
            state = self._by_stream.get(event.stream_id)
            if state is not None:
                state.close(cancelled=True)  # aioquic answers with RESET_STREAM itself
                if state.video_reference:
                    self._reference_lost(state.index)

    def _reference_lost(self, index: int) -> None:
        if index != self._last_lost:
            self._last_lost = index
            self.stats.references_lost += 1
            if self.on_reference_lost is not None:
                self.on_reference_lost(index)

    def _on_rtcp(self, data: bytes, now: float) -> None:
        from strata_roq.errors import ParseError
        from strata_roq.rtp import rtcp

        try:
            packets = rtcp.parse_rtcp_compound(data)
        except ParseError:
            self.stats.rtcp_errors += 1
            return
        self.stats.rtcp_received += 1
        for p in packets:
            if isinstance(p, rtcp.Ccfb):
                arrivals = p.arrivals(now)
                self.feedback.append((now, arrivals))
                if self.on_ccfb is not None:
                    self.on_ccfb(arrivals, now)
                self.stats.ccfb_reports += 1
                for items in arrivals.values():
                    got = sum(1 for _, t in items if t is not None)
                    self.stats.ccfb_received += got
                    self.stats.ccfb_missing += len(items) - got


def transfer_time(size: int, cwnd: int, srtt: float, ssthresh: int | None) -> float:
    """Seconds to send ``size`` bytes with window ``cwnd``: one window per round trip — but
    below ``ssthresh`` (slow start again after a loss or an outage) the window doubles each
    round trip, and a linear estimate from the collapsed window would call frames hopeless
    that the path delivers in a few round trips."""
    if ssthresh is None or cwnd >= ssthresh:
        return size * srtt / cwnd
    slow = ssthresh - cwnd                    # bytes sent while the window climbs back
    if size <= slow:
        return srtt * math.log2(1 + size / cwnd)
    return srtt * math.log2(ssthresh / cwnd) + (size - slow) * srtt / ssthresh


def is_dependent_picture(frame: MediaFrame) -> bool:
    """A picture decoded from earlier ones of its GOP: useless once one of them is lost."""
    return frame.kind in (FrameKind.P, FrameKind.B) or (frame.kind is FrameKind.UNKNOWN
                                                          and not frame.random_access)


def is_video_reference(frame: MediaFrame) -> bool:
    """A picture others predict from (not audio, tables or data): losing it breaks them."""
    return frame.reference and frame.kind not in (FrameKind.AUDIO, FrameKind.PSI, FrameKind.DATA)
