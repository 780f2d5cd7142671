"""Whether an aioquic connection may have something to send right now.

aioquic's asyncio protocol builds packets after every datagram it receives. A server that
mostly sends (the WebTransport gateway: its viewers answer with ACK-only packets) then runs
a whole empty packet-building pass per acknowledgement — with stream-per-frame, a walk
over every unacknowledged frame stream, twice — and finds nothing: 11-31 µs a time against
1-3 µs for this check (``benchmarks/ack_pass.py``), about 7 % of the gateway's CPU per
viewer (``benchmarks/fanout.py``).

:func:`may_send` answers False only when nothing *can* be waiting: the connection is
established, no acknowledgement is owed (an ACK-only packet elicits none; anything else the
peer sends — stream data, flow-control credit, PING — does), and none of the frames a loss
would have put back (stream data or FIN, RESET_STREAM, STOP_SENDING, MAX_DATA /
MAX_STREAM(S)_DATA, connection IDs, HANDSHAKE_DONE, STREAMS_BLOCKED, CRYPTO, path
validation) is pending. Anything it does not know about makes it answer True. Reads aioquic
internals (checked against 1.2-1.7), like :mod:`strata_roq.roq.priority`.
"""

from __future__ import annotations

from aioquic.quic.connection import QuicConnection, QuicConnectionState


def may_send(quic: QuicConnection) -> bool:
    """False only if ``quic`` certainly has no frame to send now (see the module doc)."""
    # noqa: SLF001 throughout - aioquic has no public "anything pending?" query
    if quic._state is not QuicConnectionState.CONNECTED or not quic._handshake_complete:
        return True
    if quic._close_pending or quic._probe_pending or quic._ping_pending \
            or quic._datagrams_pending or quic._handshake_done_pending \
            or quic._streams_blocked_pending or quic._retire_connection_ids:
        return True
    for space in quic._loss.spaces:
        if space.ack_at is not None:
            return True
    for limit in (quic._local_max_data, quic._local_max_streams_bidi,
                  quic._local_max_streams_uni):
        if limit.sent != limit.value:
            return True
    for cid in quic._host_cids:
        if not cid.was_sent:
            return True
    for path in quic._network_paths:
        if not path.is_validated or path.remote_challenges:
            return True
    for crypto in quic._crypto_streams.values():
        if not crypto.sender.buffer_is_empty:
            return True
    for stream in quic._streams.values():
        sender = stream.sender
        if not sender.buffer_is_empty or sender.reset_pending or stream.receiver.stop_pending \
                or stream.max_stream_data_local_sent != stream.max_stream_data_local:
            return True
    return False
