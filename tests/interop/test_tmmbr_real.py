"""The rate signal as RTCP: testsrc sends RTP/MP2T and reads RTCP on the same port
(--rate-from rtcp); send (--tmmbr) answers its RTP source with TMMBR (RFC 5104) carrying the
estimate, through a 2.5 Mbit/s bottleneck: the encoder comes down from its 6 Mbit/s."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def test_tmmbr_retargets_an_rtp_source(rig):
    roq, media, out = (rig.free_port() for _ in range(3))
    probe = rig.start(rig.strata("probe", "-i", f"udp://@127.0.0.1:{out}", "--json",
                                 "--idle", "3", "--duration", "30", "-q"))
    rx = rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{roq}", "-o",
                              f"udp://127.0.0.1:{out}", "--latency", "1000", "--duration", "14"),
                   ready="listening on")
    relay = rig.start(rig.strata("netsim", "--listen", "127.0.0.1:0", "--to",
                                 f"127.0.0.1:{roq}", "--delay", "15ms", "--rate", "2.5M",
                                 "--duration", "14"), ready="relaying")
    tx = rig.start(rig.strata("send", "-i", f"rtp://@127.0.0.1:{media}", "-o",
                              f"roq://127.0.0.1:{relay.port()}", "--insecure", "--latency",
                              "1000", "--tmmbr", "--rate-max", "6M", "--rate-start", "1M",
                              "--duration", "11"), ready="send:")
    src = rig.start(rig.strata("testsrc", "-o", f"rtp://127.0.0.1:{media}", "--duration", "8",
                               "--size", "640x360", "--bitrate", "6M", "--gop", "30", "-q",
                               "--json", "--rate-from", "rtcp"))
    encoder = json.loads(src.finish(timeout=60)[0])
    sent = rig.last_json(tx.finish(timeout=30)[1], "send")
    rx.finish(timeout=30)
    video = json.loads(probe.finish(timeout=60)[0])["video"]
    assert sent["tmmbr_sent"] > 5 and encoder["rate_errors"] == 0, (sent, encoder)
    targets = encoder["bitrate_targets"]
    assert targets and targets[0][0] < 15 and targets[0][1] < 1.5e6, targets   # at once
    assert max(t for _, t in targets) < 3.5e6, targets        # never far above the path
    assert video["frames"] == 240 and video["decoded"] == 240, video
