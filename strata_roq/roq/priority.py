"""Stream priorities for aioquic, which has no priority API.

aioquic serves streams round-robin: after every packet it rebuilds its service queue with the
streams it just served appended at the end. :func:`enable_stream_priority` gives one
connection a queue that is sorted by a rank function whenever aioquic reads it, so the order
holds packet by packet. The sort is stable: equal ranks keep aioquic's round-robin among
themselves. (A handful of open streams: sorting on access costs microseconds.)
"""

from __future__ import annotations

from typing import Callable

from aioquic.quic.connection import QuicConnection


class _PrioritisedConnection(QuicConnection):
    @property
    def _streams_queue(self):
        queue = self.__dict__["_roq_queue"]
        rank = self.__dict__.get("_roq_rank")
        if rank is not None and len(queue) > 1:
            queue.sort(key=rank)
        return queue

    @_streams_queue.setter
    def _streams_queue(self, value) -> None:
        self.__dict__["_roq_queue"] = value


def enable_stream_priority(quic: QuicConnection, rank: Callable) -> None:
    """Serve ``quic``'s streams in ``rank(stream)`` order (lowest first) from now on."""
    if not isinstance(quic, _PrioritisedConnection):
        queue = quic.__dict__.pop("_streams_queue", [])
        quic.__class__ = type("Prioritised" + type(quic).__name__,
                              (_PrioritisedConnection, type(quic)), {}) \
            if type(quic) is not QuicConnection else _PrioritisedConnection
        quic.__dict__["_roq_queue"] = queue
    quic.__dict__["_roq_rank"] = rank
