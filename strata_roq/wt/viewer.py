"""One browser viewer on a WebTransport session: frames out as unidirectional streams.

Sans-I/O over aioquic's ``H3Connection``/``QuicConnection`` (no sockets, time passed in).
Policy, the same "better never than late" as RoQ:
- one stream per frame (header + frame + FIN), so a lost packet of one frame never blocks
  the next; audio ranked first (in order), then key frames, then a joiner's catch-up, then
  live delta frames, both in decode order (a delta frame is useless before the one it
  predicts from);
- a frame still unacknowledged at its deadline is reset (RESET_STREAM): the page drops it;
- a **slow viewer** never slows anyone else: when more than ``max_backlog`` bytes wait in
  its streams, it skips delta frames until the next key frame, and a key frame resets
  whatever older frames are still queued (nothing before a key frame is needed after it);
- a **joining viewer** first gets the current GOP (flagged as catch-up), so its decoder has
  a key frame at once and the first picture appears without waiting for the next one; the
  pictures the gateway left out of it (disposable ones) are not counted in the viewer's
  frame numbers (``index_shift``), so the page sees no gap.

In **datagram mode** each live frame goes out as WebTransport datagrams instead (see
:func:`~strata_roq.wt.wire.fragments`): never retransmitted, never blocking each other; the
fragments of a frame still unsent at its deadline are taken out of the connection's queue,
and the same backlog rule skips delta frames for a viewer that falls behind. The catch-up
still comes on streams: sent the moment the session opens, its datagrams reached Chromium
before the session was ready there and were dropped — the key frame with them, so the page
skipped the whole GOP and its first picture waited for the next key frame (1.6 s).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from aioquic.buffer import encode_uint_var
from aioquic.h3.connection import StreamType

from strata_roq.roq.priority import can_open_uni_stream, enable_stream_priority, set_stream_rank
from strata_roq.wt.wire import AUDIO, FLAG_CATCHUP, FRAGMENT_OVERHEAD, WebFrame, fragments

#: WebTransport application error 0 in the HTTP/3 code space (draft-ietf-webtrans-http3 §4.3).
WT_CANCELLED = 0x52E4A40FA8DB


@dataclass
class ViewerStats:
    frames_sent: int = 0
    bytes_sent: int = 0
    catchup_frames: int = 0
    resets: int = 0               # frames reset at their deadline
    skipped: int = 0              # delta frames not sent: the viewer was behind
    key_resets: int = 0           # older frames reset because a key frame superseded them
    stream_limited: int = 0       # frames not sent: the viewer's stream limit was reached
    datagrams_sent: int = 0       # datagram mode: fragments queued
    datagrams_expired: int = 0    # datagram mode: fragments dropped unsent at the deadline

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Open:
    stream_id: int
    deadline: float
    key: bool
    index: int


@dataclass(eq=False)         # a live session: equal only to itself (and hashable so)
class ViewerSession:
    h3: object                    # aioquic H3Connection
    quic: object                  # its QuicConnection
    session_id: int
    max_backlog: int = 2_000_000
    stats: ViewerStats = field(default_factory=ViewerStats)
    _open: dict = field(default_factory=dict)     # stream id -> _Open
    _waiting_for_key: bool = False
    _order: int = 0
    _prefix: bytes | None = None          # of each frame stream: its type and the session
    _datagram_prefix: bytes | None = None # of each datagram: the session's quarter stream id
    datagram: bool = False        # frames as datagrams instead of streams
    _queued: deque = field(default_factory=deque)   # datagram mode: (deadline, fragments)
    index_shift: int = 0          # video frames left out of its catch-up: later ones are
                                  # numbered without them

    def __post_init__(self) -> None:
        enable_stream_priority(self.quic)

    def send(self, frame: WebFrame, deadline: float, now: float, catchup: bool = False) -> bool:
        video = frame.kind != AUDIO
        if video and not frame.key:
            if self._waiting_for_key or self.backlog() > self.max_backlog:
                self._waiting_for_key = True
                self.stats.skipped += 1
                return False
        if video and frame.key:
            if self._waiting_for_key or self.backlog() > self.max_backlog:
                self._reset_all(key_superseded=True)
            self._waiting_for_key = False
        if self.datagram and not catchup:
            return self._send_datagrams(frame, deadline)
        if not can_open_uni_stream(self.quic):
            # The viewer has not yet released enough streams (MAX_STREAMS): a stream beyond
            # its limit would be blocked in aioquic — and resetting one is a protocol error.
            self.stats.stream_limited += 1
            if video:
                self._waiting_for_key = True
            return False
        # A WebTransport unidirectional stream (draft-ietf-webtrans-http3 §4.2): its type and
        # the session id, then the frame — written at once (aioquic's
        # create_webtransport_stream writes the two varints separately: three writes per
        # frame per viewer instead of one).
        sid = self.quic.get_next_available_stream_id(is_unidirectional=True)
        data = self._encode(frame, catchup)
        if self._prefix is None:
            self._prefix = encode_uint_var(StreamType.WEBTRANSPORT) + \
                encode_uint_var(self.session_id)
        self.quic.send_stream_data(sid, self._prefix + data, end_stream=True)
        self._order += 1
        # Audio first, in order: a decoder fed frames out of order plays them so (and the
        # page's Chromium then stamped each output with the next time in its own count, so
        # sound and its timestamps parted). Then key frames, newer before older (a newer one
        # makes the older useless); then a joiner's catch-up, then live delta frames, both in
        # decode order: the page decodes each as it comes, and gives up a picture still
        # missing 150 ms after a newer one came — with the newest sent first, a viewer with a
        # backlog (a busy machine) saw older pictures overtaken that long and skipped the rest
        # of their GOP (a CI run lost 89 of 600 pictures so).
        if not video:
            rank = -(1 << 62) + self._order
        elif not frame.key:
            rank = (1 << 60 if catchup else 1 << 61) + self._order
        else:
            rank = -self._order
        set_stream_rank(self.quic, sid, rank)
        self._open[sid] = _Open(sid, deadline, frame.key, frame.index)
        self.stats.frames_sent += 1
        self.stats.bytes_sent += len(data)
        return True

    def _encode(self, frame: WebFrame, catchup: bool) -> bytes:
        self.stats.catchup_frames += catchup
        shift = self.index_shift if frame.kind != AUDIO else 0
        return frame.encode(frame.index - shift, FLAG_CATCHUP if catchup else 0)

    def _send_datagrams(self, frame: WebFrame, deadline: float) -> bool:
        data = self._encode(frame, False)
        # one fragment per QUIC packet of the connection's size
        size = self.quic._max_datagram_size - FRAGMENT_OVERHEAD  # noqa: SLF001
        parts = fragments(data, self.stats.frames_sent, size)
        if self._datagram_prefix is None:
            self._datagram_prefix = encode_uint_var(self.session_id // 4)
        parts = [self._datagram_prefix + p for p in parts]
        for p in parts:
            self.quic.send_datagram_frame(p)
        self._queued.append((deadline, parts))
        self.stats.frames_sent += 1
        self.stats.bytes_sent += len(data)
        self.stats.datagrams_sent += len(parts)
        return True

    def _unsent(self) -> deque:
        """aioquic's queue of datagrams not yet written (oldest first)."""
        return self.quic._datagrams_pending  # noqa: SLF001 - no public view of it

    def backlog(self) -> int:
        """Bytes queued in this viewer's frame streams (or datagrams) and not yet sent."""
        if self.datagram:
            return sum(len(p) for p in self._unsent())
        total = 0
        for sid in list(self._open):
            stream = self.quic._streams.get(sid)  # noqa: SLF001 - aioquic's send buffers
            if stream is None or stream.sender.is_finished:
                del self._open[sid]
                continue
            total += sum(r.stop - r.start for r in stream.sender._pending)  # noqa: SLF001
        return total

    def expire(self, now: float) -> int:
        """Reset every frame stream still unacknowledged at its deadline (datagram mode:
        drop the unsent fragments of frames past it)."""
        if self.datagram:
            return self._expire_datagrams(now)
        resets = 0
        for sid, state in list(self._open.items()):
            stream = self.quic._streams.get(sid)  # noqa: SLF001
            if stream is None or stream.sender.is_finished:
                del self._open[sid]
            elif state.deadline <= now:
                self._reset(sid)
                resets += 1
        self.stats.resets += resets
        return resets

    def _expire_datagrams(self, now: float) -> int:
        """Frames wholly sent are forgotten; those past their deadline lose what is unsent."""
        if not self._queued:
            return 0
        unsent = self._unsent()
        waiting = {id(p) for p in unsent}
        dropped: set[int] = set()
        frames = 0
        keep: deque = deque()
        for deadline, parts in self._queued:
            left = [id(p) for p in parts if id(p) in waiting]
            if not left:
                continue
            if deadline <= now:
                dropped.update(left)
                frames += 1
            else:
                keep.append((deadline, parts))
        self._queued = keep
        if dropped:
            self._drop_unsent(dropped)
            self.stats.resets += frames
        return frames

    def _drop_unsent(self, ids: set[int]) -> int:
        """Takes the datagrams whose ids are given out of aioquic's queue; how many went."""
        unsent = self._unsent()
        kept = [p for p in unsent if id(p) not in ids]
        gone = len(unsent) - len(kept)
        unsent.clear()
        unsent.extend(kept)
        self.stats.datagrams_expired += gone
        return gone

    def _reset_all(self, key_superseded: bool) -> None:
        if self.datagram:                   # fragments of older frames still unsent go
            gone = self._drop_unsent({id(p) for _, parts in self._queued for p in parts})
            self.stats.key_resets += key_superseded and gone > 0
            self._queued.clear()
            return
        for sid in list(self._open):
            stream = self.quic._streams.get(sid)  # noqa: SLF001
            if stream is not None and not stream.sender.is_finished:
                self._reset(sid)
                self.stats.key_resets += key_superseded
            self._open.pop(sid, None)

    def _reset(self, sid: int) -> None:
        stream = self.quic._streams.get(sid)  # noqa: SLF001
        if stream is not None and stream.is_blocked:
            self._open.pop(sid, None)       # never reset a stream the peer has not allowed
            return
        try:
            self.quic.reset_stream(sid, WT_CANCELLED)
        except Exception:  # noqa: BLE001 - already reset/finished: nothing left to do
            pass
        self._open.pop(sid, None)
