"""RoQ framing cost: each mapping mode vs a raw aioquic stream carrying the same bytes.

Two aioquic connections in one process exchange packets in memory (virtual time, no
sockets), so the figure is the CPU cost of QUIC + RoQ on both ends. Baselines with no RoQ
framing and no parsing: ``raw`` = the RTP packets back to back on one unidirectional stream;
``raw-frames`` = the same with a new stream (FIN at the end) every frame, i.e. aioquic's own
cost of stream-per-frame. Target: every mode >= 0.8x its baseline (frame mode against
raw-frames, the others against raw).

Each mode runs ``--repeat`` times, interleaved with the others, and its best run counts (the
usual way to take scheduler and cache noise out of a CPU benchmark on a shared machine).

    .venv/bin/python benchmarks/roq_throughput.py [--packets 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import tempfile
import time

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import DatagramFrameReceived, StreamDataReceived

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from strata_roq.certs import generate_self_signed  # noqa: E402
from strata_roq.media.frames import MediaFrame  # noqa: E402
from strata_roq.media.nal import FrameKind  # noqa: E402
from strata_roq.roq.framing import ALPN  # noqa: E402
from strata_roq.roq.receiver import RoqReceiver  # noqa: E402
from strata_roq.roq.sender import RoqSender  # noqa: E402

CLIENT, SERVER = ("1.1.1.1", 1), ("2.2.2.2", 2)
PACKET = 1328          # RTP/MP2T: 12 + 7 x 188
PER_FRAME = 10


def connect(tmp: str):
    cert, key = generate_self_signed()
    with open(f"{tmp}/c.pem", "wb") as f:
        f.write(cert)
    with open(f"{tmp}/k.pem", "wb") as f:
        f.write(key)
    common = dict(alpn_protocols=[ALPN], max_datagram_frame_size=65536, max_datagram_size=1452)
    server_cfg = QuicConfiguration(is_client=False, **common)
    server_cfg.load_cert_chain(f"{tmp}/c.pem", f"{tmp}/k.pem")
    client = QuicConnection(configuration=QuicConfiguration(is_client=True,
                                                            verify_mode=ssl.CERT_NONE, **common))
    server = QuicConnection(configuration=server_cfg,
                            original_destination_connection_id=client.original_destination_connection_id)
    client.connect(SERVER, 0.0)
    return client, server


def pump(client, server, now, on_server_event) -> int:
    moved = 0
    for data, _ in client.datagrams_to_send(now):
        server.receive_datagram(data, CLIENT, now)
        moved += 1
    for data, _ in server.datagrams_to_send(now):
        client.receive_datagram(data, SERVER, now)
        moved += 1
    while (e := server.next_event()) is not None:
        on_server_event(e)
    while client.next_event() is not None:
        pass
    return moved


def run(mode: str, packets: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        client, server = connect(tmp)
        now = 0.0
        got = {"bytes": 0}
        receiver = RoqReceiver(server) if not mode.startswith("raw") else None

        def on_event(e):
            if receiver is not None:
                for p in receiver.handle_event(e, now):
                    got["bytes"] += len(p.data)
            elif isinstance(e, (StreamDataReceived, DatagramFrameReceived)):
                got["bytes"] += len(e.data)

        for _ in range(50):
            if not pump(client, server, now, on_event):
                break
            now += 0.001
        sender = RoqSender(client, mode=mode) if not mode.startswith("raw") else None
        raw_stream = client.get_next_available_stream_id(is_unidirectional=True)
        if mode == "raw-frames":
            raw_stream = None
        payload = bytes([0x80, 33]) + bytes(10) + bytes(PACKET - 12)
        start = time.perf_counter()
        for i in range(packets):
            if sender is None and mode == "raw-frames":
                if i % PER_FRAME == 0:
                    sid = client.get_next_available_stream_id(is_unidirectional=True)
                client.send_stream_data(sid, payload, end_stream=i % PER_FRAME == PER_FRAME - 1)
            elif sender is None:
                client.send_stream_data(raw_stream, payload)
            else:
                if i % PER_FRAME == 0:
                    index = i // PER_FRAME
                    kind = FrameKind.IDR if index % 30 == 0 else FrameKind.P
                    frame = MediaFrame(index, kind, 0x100, "h264", now, now, now + 10.0,
                                       priority=7 if kind == FrameKind.IDR else 3)
                sender.send(payload, frame, now)
                if i % PER_FRAME == PER_FRAME - 1:
                    sender.end_frame(frame)
            if i % 8 == 7:
                pump(client, server, now, on_event)
                now += 0.0002
        for _ in range(2000):
            if not pump(client, server, now, on_event) and got["bytes"] >= packets * PACKET:
                break
            now += 0.001
        elapsed = time.perf_counter() - start
        return got["bytes"] * 8 / elapsed / 1e6, got["bytes"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    modes = ("raw", "raw-frames", "frame", "stream", "datagram", "hybrid")
    best = {m: (0.0, 0) for m in modes}
    for round_ in range(args.repeat):
        for mode in modes:
            best[mode] = max(best[mode], run(mode, args.packets))
        print(f"round {round_ + 1}/{args.repeat} done", file=sys.stderr, flush=True)
    raw, raw_frames = best["raw"][0], best["raw-frames"][0]
    print(f"{'mode':10} {'Mbit/s':>8} {'x raw':>6} {'x baseline':>11} {'delivered':>10}")
    print(f"{'raw':10} {raw:8.1f} {1.0:6.2f}")
    print(f"{'raw-frames':10} {raw_frames:8.1f} {raw_frames / raw:6.2f}")
    for mode in modes[2:]:
        rate, delivered = best[mode]
        base = raw_frames if mode == "frame" else raw
        print(f"{mode:10} {rate:8.1f} {rate / raw:6.2f} {rate / base:11.2f} "
              f"{delivered / (args.packets * PACKET):9.1%}", flush=True)


if __name__ == "__main__":
    main()
