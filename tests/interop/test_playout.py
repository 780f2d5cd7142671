"""receive --playout on real sockets: a live encoder through a relay with 50 ms of jitter;
the output's packet timing follows the RTP timestamps again (without it, the jitter shows)."""

from __future__ import annotations

import socket
import struct
import threading

import numpy as np
import pytest

pytestmark = [pytest.mark.interop]


#: Linux's SO_TIMESTAMPNS (the socket module does not name it)
SO_TIMESTAMPNS = 35


class _TimedCollector:
    """Each packet's arrival as the kernel stamped it: on loopback, the moment the receiver
    sent it. (Stamped by this thread instead, the test's own waits for the CPU and for the
    GIL, beside the threads reading the processes' output, showed up as the receiver's.)"""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.settimeout(0.2)
        self.got: list[tuple[float, int]] = []          # (arrival, RTP timestamp)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(65536, 64)
            except socket.timeout:
                continue
            stamp = next((struct.unpack("qq", blob[:16]) for level, kind, blob in ancillary
                          if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS), None)
            assert stamp is not None, "no kernel timestamp"
            self.got.append((stamp[0] + stamp[1] / 1e9, int.from_bytes(data[4:8], "big")))
        self.sock.close()

    def close(self) -> list[tuple[float, int]]:
        self._stop = True
        self._thread.join(5)
        return self.got


def _timing_error_ms(got, skip: float = 3.0) -> np.ndarray:
    start = got[0][0] + skip
    steady = [(t, ts) for t, ts in got if t >= start]
    arrivals = np.array([t for t, _ in steady])
    media = np.array([ts for _, ts in steady], dtype=float) / 90000.0
    return np.abs(np.diff(arrivals) - np.diff(media)) * 1000


@pytest.mark.parametrize("playout", [True, False])
def test_playout_restores_the_source_timing(rig, playout):
    roq_port, media_port, out_port = rig.free_port(), rig.free_port(), rig.free_port()
    collector = _TimedCollector(out_port)
    rx = rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq_port}", "-o",
                              f"rtp://127.0.0.1:{out_port}", "--duration", "14",
                              *(["--playout"] if playout else [])), ready="listening on")
    relay = rig.start(rig.strata("netsim", "--listen", "127.0.0.1:0", "--to",
                                 f"127.0.0.1:{roq_port}", "--delay", "30ms", "--jitter", "50ms",
                                 "--return-delay", "30ms", "--duration", "14"),
                      ready="relaying")
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{media_port}", "-o",
                              f"roq://127.0.0.1:{relay.port()}?mode=datagram", "--insecure",
                              "--latency", "1000", "--duration", "12"), ready="send:")
    src = rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media_port}", "--duration",
                               "10", "--size", "640x360", "--bitrate", "2M", "-q"))
    src.finish(timeout=60)
    tx_err = tx.finish(timeout=30)[1]
    out, err = rx.finish(timeout=30)
    got = collector.close()
    assert len(got) > 1500, (len(got), err[-1500:], tx_err[-1500:])
    error = _timing_error_ms(got)
    if playout:
        stats = rig.last_json(err, "receive")["playout"]
        assert np.percentile(error, 99) < 5.0, (np.percentile(error, 99), stats)
        assert stats["underruns"] <= 2 and stats["target_delay_ms"] > 20, stats
        assert stats["nice"] == -10, stats          # the pacing ran at raised priority (root)
        assert stats["realtime"] == 10, stats       # and real-time scheduling
    else:
        assert np.percentile(error, 99) > 20.0          # the jitter is there without it


def test_packets_given_up_at_playout_stop_their_streams(rig):
    """Stream per frame through a lossy 60 ms path with a tight budget: a lost packet's QUIC
    retransmission comes after its playout time, so the jitter buffer skips it — and the
    receiver stops the stream holding it (STOP_SENDING: RoQ's NACK give-up), so the sender
    spends nothing more on that frame."""
    roq_port, media_port, out_port = rig.free_port(), rig.free_port(), rig.free_port()
    collector = _TimedCollector(out_port)
    rx = rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq_port}", "-o",
                              f"rtp://127.0.0.1:{out_port}", "--duration", "12", "--playout",
                              "--latency", "250", "--no-deadline"), ready="listening on")
    relay = rig.start(rig.strata("netsim", "--listen", "127.0.0.1:0", "--to",
                                 f"127.0.0.1:{roq_port}", "--delay", "60ms", "--loss", "3%",
                                 "--return-loss", "0%", "--seed", "7", "--duration", "12"),
                      ready="relaying")
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{media_port}", "-o",
                              f"roq://127.0.0.1:{relay.port()}?mode=frame", "--insecure",
                              "--latency", "250", "--duration", "10"), ready="send:")
    src = rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media_port}", "--duration",
                               "8", "--size", "640x360", "--bitrate", "2M", "-q"))
    src.finish(timeout=60)
    sent = rig.last_json(tx.finish(timeout=30)[1], "send")
    out, err = rx.finish(timeout=30)
    collector.close()
    received = rig.last_json(err, "receive")
    give_ups = sum(r["playout_give_ups"] for r in received["receivers"])
    assert received["playout"]["underruns"] > 0, received["playout"]
    assert give_ups > 0, received
    assert sent["stop_sending_received"] >= give_ups, (sent, give_ups)
