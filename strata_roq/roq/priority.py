"""Stream priorities for aioquic, which has no priority API.

aioquic serves streams round-robin: after every packet it rebuilds its service queue with the
streams it just served appended at the end. :func:`enable_stream_priority` gives one
connection a queue that is sorted by a rank function whenever aioquic reads it, so the order
holds packet by packet. The sort is stable: equal ranks keep aioquic's round-robin among
themselves. (A handful of open streams: sorting on access costs microseconds.)
"""

from __future__ import annotations

from operator import attrgetter

from aioquic.quic.connection import QuicConnection

#: Rank of streams nobody ranked (control, a long stream): served first.
TOP = -(1 << 62)
_rank_of = attrgetter("roq_rank")


class _PrioritisedConnection(QuicConnection):
    @property
    def _streams_queue(self):
        d = self.__dict__
        queue = d["_roq_queue"]
        # Re-sort only when aioquic replaced the list or appended to it since the last sort.
        if d["_roq_sorted_len"] != len(queue) and len(queue) > 1:
            try:
                queue.sort(key=_rank_of)
            except AttributeError:       # a stream we did not rank: it goes first
                for stream in queue:
                    if not hasattr(stream, "roq_rank"):
                        stream.roq_rank = TOP
                queue.sort(key=_rank_of)
            d["_roq_sorted_len"] = len(queue)
        return queue

    @_streams_queue.setter
    def _streams_queue(self, value) -> None:
        self.__dict__["_roq_queue"] = value
        self.__dict__["_roq_sorted_len"] = -1


def set_stream_rank(quic: QuicConnection, stream_id: int, rank: int) -> None:
    """Rank an existing stream (lower = served first)."""
    stream = quic._streams.get(stream_id)  # noqa: SLF001
    if stream is not None:
        stream.roq_rank = rank


def enable_stream_priority(quic: QuicConnection) -> None:
    """Serve ``quic``'s streams in ``stream.roq_rank`` order (lowest first) from now on;
    :func:`set_stream_rank` ranks one."""
    if not isinstance(quic, _PrioritisedConnection):
        queue = quic.__dict__.pop("_streams_queue", [])
        quic.__class__ = type("Prioritised" + type(quic).__name__,
                              (_PrioritisedConnection, type(quic)), {}) \
            if type(quic) is not QuicConnection else _PrioritisedConnection
        quic.__dict__["_roq_queue"] = queue
    quic.__dict__["_roq_sorted_len"] = -1
