"""What an acknowledgement costs a sending aioquic server when it leaves nothing to send:
aioquic's asyncio protocol runs a packet-building pass after every datagram it receives,
walking every unacknowledged stream (stream-per-frame: the frames of the last ~100 ms) to
find nothing; the WebTransport server now asks ``roq.pending.may_send`` first.

Prints, per number of live frame streams (sent, waiting for their acknowledgement), the µs
of one empty pass and of one ``may_send`` check. Multiply the difference by a viewer's
acknowledgements per second (~85 at 2 Mbit/s) for the CPU it saves per viewer.

    .venv/bin/python benchmarks/ack_pass.py [--streams 0,5,11,20] [--calls 20000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from roq_throughput import connect, pump  # noqa: E402

from strata_roq.roq.pending import may_send  # noqa: E402
from strata_roq.roq.priority import enable_stream_priority  # noqa: E402


def _per_call(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def measure(streams: int, calls: int) -> tuple[float, float]:
    """(µs per empty pass, µs per may_send) with ``streams`` frame streams awaiting ACKs."""
    with tempfile.TemporaryDirectory() as tmp:
        client, server = connect(tmp)
    enable_stream_priority(server)            # as every RoQ/WebTransport connection here
    now = 0.0
    for _ in range(20):                       # handshake, then quiet
        pump(client, server, now, lambda e: None)
        now += 0.05
    for _ in range(streams):                  # small frames: all inside the first window
        sid = server.get_next_available_stream_id(is_unidirectional=True)
        server.send_stream_data(sid, bytes(600), end_stream=True)
    for _ in range(100):                      # all of it sent; the client does not answer
        if not server.datagrams_to_send(now) and server._pacing_at is None:  # noqa: SLF001
            break
        now += 0.001
    if may_send(server):
        raise SystemExit(f"{streams} streams: data still waits to be sent (window too small)")
    return (_per_call(lambda: server.datagrams_to_send(now), calls),
            _per_call(lambda: may_send(server), calls))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", default="0,5,11,20")
    ap.add_argument("--calls", type=int, default=20000)
    args = ap.parse_args()
    print(f"{'live streams':>12} {'empty pass':>11} {'may_send':>9}")
    for n in (int(x) for x in args.streams.split(",")):
        empty, check = measure(n, args.calls)
        print(f"{n:12d} {empty:8.1f} µs {check:6.1f} µs", flush=True)


if __name__ == "__main__":
    main()
