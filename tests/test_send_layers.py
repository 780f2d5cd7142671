"""send's layer thinning on RTP/MP2T input: pictures leave, the RTP sequence stays gap-free."""

from __future__ import annotations

import struct

from strata_roq.commands.send import _Layers
from strata_roq.media.testsrc import TestSource


def test_rtp_input_is_thinned_and_renumbered_without_gaps():
    src = TestSource(width=320, height=180, fps=30, bitrate=1_000_000, gop=30, bframes=1)
    layers = _Layers(None)
    layers.thinner.drop_disposable = True
    out, seq = [], 65530                      # wraps during the run
    for i in range(60):
        for d in src.encode_frame(int(i / 30 * 1e9)):
            packet = struct.pack(">BBHII", 0x80, 33, seq & 0xFFFF, i * 3000, 0x1234) + d
            seq += 1
            thinned = layers.thin(packet, False, i / 30)
            if thinned:
                assert thinned[:2] == packet[:2] and thinned[4:12] == packet[4:12]
                out.append(thinned)
    seqs = [(p[2] << 8) | p[3] for p in out]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))
    assert layers.seq_shift > 0 and layers.thinner.stats.dropped_disposable >= 25
    assert len(out) == seq - 65530 - layers.seq_shift


def test_other_rtp_payloads_pass_untouched():
    layers = _Layers(None)
    layers.thinner.drop_disposable = True
    packet = struct.pack(">BBHII", 0x80, 96, 1, 0, 1) + b"\x47" + bytes(187)
    assert layers.thin(packet, False, 0.0) is packet and layers.rtp_other == 1
