"""Stream priorities for aioquic, which has no priority API.

aioquic serves streams round-robin: it builds each packet by walking its service queue
(``_streams_queue``), then makes a new queue with the streams it just served moved to the
end. A prioritised connection sorts that queue by each stream's ``roq_rank`` (lower first)
right before every packet's walk — in ``_write_connection_limits``, which aioquic calls once
per packet just ahead of the stream frames — so the order holds packet by packet. The sort
is stable: equal ranks keep aioquic's round robin.

Cost matters (stream-per-frame builds a packet or more per media packet): one sort of a
short list per packet, with a C-level key (every stream has a ``roq_rank``, unranked ones
the class default). An earlier version kept the queue sorted through a property on every
assignment and append; its Python-level getter, setter and list methods cost about twice as
much per packet (``benchmarks/roq_throughput.py``).
"""

from __future__ import annotations

from operator import attrgetter

from aioquic.quic.connection import QuicConnection
from aioquic.quic.stream import QuicStream

#: Rank of streams nobody ranked (control, a long stream, RTCP): served first.
TOP = -(1 << 62)

QuicStream.roq_rank = TOP  # the default every stream reads until ranked
_rank_of = attrgetter("roq_rank")


class _PrioritisedConnection(QuicConnection):
    def _write_connection_limits(self, builder, space) -> None:
        # Called for every 1-RTT packet, before its stream frames: put the queue in rank
        # order for this packet's walk.
        queue = self._streams_queue
        if len(queue) > 1:
            queue.sort(key=_rank_of)
        super()._write_connection_limits(builder, space)


def set_stream_rank(quic: QuicConnection, stream_id: int, rank: int) -> None:
    """Rank an existing stream (lower = served first); the next packet serves it so."""
    stream = quic._streams.get(stream_id)  # noqa: SLF001
    if stream is not None:
        stream.roq_rank = rank


def enable_stream_priority(quic: QuicConnection) -> None:
    """Serve ``quic``'s streams in ``stream.roq_rank`` order (lowest first) from now on;
    :func:`set_stream_rank` ranks one."""
    if isinstance(quic, _PrioritisedConnection):
        return
    cls = type(quic)
    if cls not in _prioritised:
        _prioritised[cls] = type("Prioritised" + cls.__name__, (_PrioritisedConnection, cls), {})
    quic.__class__ = _prioritised[cls]


_prioritised: dict[type, type] = {QuicConnection: _PrioritisedConnection}


def can_open_uni_stream(quic: QuicConnection) -> bool:
    """Whether the peer's MAX_STREAMS lets us open another unidirectional stream now. A
    stream beyond it would wait blocked in aioquic — and resetting such a stream (a late
    frame) is a STREAM_LIMIT_ERROR at the peer, so callers must not open it at all."""
    return quic._local_next_stream_id_uni // 4 < quic._remote_max_streams_uni  # noqa: SLF001
