"""Stream priorities for aioquic, which has no priority API.

aioquic serves streams round-robin: after every packet it rebuilds its service queue (a new
list, with the streams it just served appended at the end). :func:`enable_stream_priority`
keeps that queue sorted by each stream's ``roq_rank`` instead: whenever aioquic assigns a new
queue, or appends to it, it is re-sorted, so the order holds packet by packet. Reading the
queue costs nothing extra (a C-level attribute getter), which matters: aioquic reads it
several times per packet. The sort is stable: equal ranks keep aioquic's round-robin.

Cost matters too (stream-per-frame sorts after every packet): the sort key is C-level (every
stream has a ``roq_rank``, unranked ones the class default), and a queue aioquic assigns is
not re-sorted — it only ever assigns a filtered copy of the (sorted) queue and then extends
it, and the extend sorts.
"""

from __future__ import annotations

from operator import attrgetter

from aioquic.quic.connection import QuicConnection
from aioquic.quic.stream import QuicStream

#: Rank of streams nobody ranked (control, a long stream, RTCP): served first.
TOP = -(1 << 62)

QuicStream.roq_rank = TOP  # the default every stream reads until ranked
_rank_of = attrgetter("roq_rank")


class _RankedList(list):
    """aioquic's stream queue, kept in rank order on every append."""

    __slots__ = ()

    def append(self, stream) -> None:
        list.append(self, stream)
        self.sort(key=_rank_of)

    def extend(self, streams) -> None:
        # aioquic extends with the streams it just served (usually one): those go back to
        # their rank's place; the rest of the queue is already in order.
        list.extend(self, streams)
        if len(self) > 1:
            self.sort(key=_rank_of)


def _set_queue(self, value) -> None:
    # aioquic assigns ``[s for s in queue if kept]`` (still sorted), then extends it.
    self.__dict__["_roq_queue"] = _RankedList(value)


class _PrioritisedConnection(QuicConnection):
    _streams_queue = property(attrgetter("_roq_queue"), _set_queue)


def set_stream_rank(quic: QuicConnection, stream_id: int, rank: int) -> None:
    """Rank an existing stream (lower = served first) and re-sort the queue."""
    stream = quic._streams.get(stream_id)  # noqa: SLF001
    if stream is not None:
        stream.roq_rank = rank
        if isinstance(quic, _PrioritisedConnection):
            quic.__dict__["_roq_queue"].sort(key=_rank_of)


def enable_stream_priority(quic: QuicConnection) -> None:
    """Serve ``quic``'s streams in ``stream.roq_rank`` order (lowest first) from now on;
    :func:`set_stream_rank` ranks one."""
    if isinstance(quic, _PrioritisedConnection):
        return
    queue = quic.__dict__.pop("_streams_queue", [])
    quic.__class__ = _PrioritisedConnection if type(quic) is QuicConnection else \
        type("Prioritised" + type(quic).__name__, (_PrioritisedConnection, type(quic)), {})
    _set_queue(quic, sorted(queue, key=_rank_of))


def can_open_uni_stream(quic: QuicConnection) -> bool:
    """Whether the peer's MAX_STREAMS lets us open another unidirectional stream now. A
    stream beyond it would wait blocked in aioquic — and resetting such a stream (a late
    frame) is a STREAM_LIMIT_ERROR at the peer, so callers must not open it at all."""
    return quic._local_next_stream_id_uni // 4 < quic._remote_max_streams_uni  # noqa: SLF001
