"""FEC on real sockets: a 600 ms-RTT satellite path bonded with a 40 ms cellular one at a
500 ms budget. Nothing lost on the satellite can be retransmitted in time; RaptorQ repair
rebuilds it at the receiver (counted in both ends' stats)."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def test_fec_rebuilds_what_retransmission_could_not_deliver_in_time(rig):
    roq_port, media_port, out_port = rig.free_port(), rig.free_port(), rig.free_port()
    probe = rig.start(rig.strata("probe", "-i", f"udp://@127.0.0.1:{out_port}", "--json",
                                 "--idle", "3", "--duration", "40", "-q"))
    rx = rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq_port}", "-o",
                              f"udp://127.0.0.1:{out_port}", "--latency", "500",
                              "--duration", "20"), ready="listening on")
    cell = rig.start(rig.strata("netsim", "--listen", "127.0.0.1:0", "--to",
                                f"127.0.0.1:{roq_port}", "--delay", "20ms", "--rate", "1M",
                                "--duration", "20"), ready="relaying")
    sat = rig.start(rig.strata("netsim", "--listen", "127.0.0.1:0", "--to",
                               f"127.0.0.1:{roq_port}", "--delay", "300ms", "--rate", "10M",
                               "--loss", "1%", "--burst", "4", "--return-loss", "0", "--seed", "5",
                               "--duration", "20"), ready="relaying")
    paths = (f"roq://127.0.0.1:{cell.port()}?name=cell,"
             f"roq://127.0.0.1:{sat.port()}?name=sat")
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{media_port}", "-o", paths,
                              "--insecure", "--latency", "500", "--fec", "static",
                              "--fec-overhead", "0.3", "--duration", "16"), ready="send:")
    src = rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media_port}", "--duration",
                               "12", "--size", "640x360", "--bitrate", "1.5M", "--gop", "30", "-q"))
    src.finish(timeout=60)
    sent = rig.last_json(tx.finish(timeout=30)[1], "send")
    got = rig.last_json(rx.finish(timeout=30)[1], "receive")
    report = json.loads(probe.finish(timeout=60)[0])
    sat_path = next(p for p in sent["paths"] if p["name"] == "sat")
    # the satellite carried media and its round trip exceeds the whole budget: ARQ is hopeless
    assert sat_path["sent"] > 300 and sat_path["srtt_ms"] > 550, sent
    assert sent["fec"]["repair_packets"] > 100, sent["fec"]
    # packets lost on it were rebuilt from repair symbols, in time to be used
    assert got["fec"]["recovered"] > 10, got["fec"]
    assert got["fec_rebuilt_in_time"] > 10, got
    assert got["fec"]["malformed"] == 0
    # the stream as a whole stays watchable (the first second, before the satellite path is
    # measured, is the weak part)
    video = report["video"]
    assert video["missing_frames"] <= 18, (video, got["fec"])


def test_cross_path_xor_loses_nothing_when_a_path_dies(rig):
    """Three paths, k = 2 packets + their XOR per group, each on its own path: the fastest
    path dies for good mid-stream and not a frame is lost (then the two left duplicate)."""
    roq_port, media_port, out_port = rig.free_port(), rig.free_port(), rig.free_port()
    probe = rig.start(rig.strata("probe", "-i", f"udp://@127.0.0.1:{out_port}", "--json",
                                 "--idle", "3", "--duration", "40", "-q"))
    rx = rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq_port}", "-o",
                              f"udp://127.0.0.1:{out_port}", "--latency", "500",
                              "--duration", "16"), ready="listening on")
    relays = []
    for extra in (["--delay", "10ms", "--outage", "4:30"], ["--delay", "20ms"],
                  ["--delay", "30ms"]):
        relays.append(rig.start(rig.strata("netsim", "--listen", "127.0.0.1:0", "--to",
                                           f"127.0.0.1:{roq_port}", "--rate", "6M",
                                           "--duration", "16", *extra), ready="relaying"))
    paths = ",".join(f"roq://127.0.0.1:{r.port()}?name={n}"
                     for r, n in zip(relays, ("a", "b", "c")))
    tx = rig.start(rig.strata("send", "-i", f"udp://@127.0.0.1:{media_port}", "-o", paths,
                              "--insecure", "--latency", "500", "--fec", "xor",
                              "--duration", "12"), ready="send:")
    src = rig.start(rig.strata("testsrc", "-o", f"udp://127.0.0.1:{media_port}", "--duration",
                               "8", "--size", "640x360", "--bitrate", "2M", "--gop", "30", "-q"))
    src.finish(timeout=60)
    sent = rig.last_json(tx.finish(timeout=30)[1], "send")
    got = rig.last_json(rx.finish(timeout=30)[1], "receive")
    report = json.loads(probe.finish(timeout=60)[0])
    dead = next(p for p in sent["paths"] if p["name"] == "a")
    assert dead["deaths"] >= 1 and not dead["alive"], sent
    assert sent["decisions"].get("pinned", 0) > 500, sent["decisions"]
    assert got["fec"]["recovered"] > 0 and got["fec"]["malformed"] == 0, got["fec"]
    video = report["video"]
    assert video["frames"] == 240 and video["missing_frames"] == 0, (video, got["fec"])
