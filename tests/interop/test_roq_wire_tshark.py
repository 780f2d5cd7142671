"""An independent judge of RoQ's bytes: tshark (which knows QUIC, not RoQ) decrypts a captured
loopback session with our keylog, and its STREAM frame data must hold exactly the draft's
stream framing (§5.2.1: flow id varint, then varint-length-prefixed RTP packets) carrying the
RTP packets we fed in, seq and timestamp unchanged."""

from __future__ import annotations

import json
import struct
import subprocess
import time

import pytest

from strata_roq.roq.framing import decode_varint

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def _stream_bytes(pcap, keylog) -> dict[int, bytearray]:
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-o", f"tls.keylog_file:{keylog}", "-Y", "quic.stream.stream_id",
         "-T", "json", "-e", "quic.stream.stream_id", "-e", "quic.stream.off", "-e",
         "quic.stream.offset", "-e", "quic.stream.len", "-e", "quic.stream.length",
         "-e", "quic.stream_data"], capture_output=True, text=True, timeout=120, check=True).stdout
    streams: dict[int, bytearray] = {}
    for pkt in json.loads(out):
        f = pkt["_source"]["layers"]
        ids = f["quic.stream.stream_id"]
        n = len(ids)

        def column(name, present_bits):
            # tshark either pads absent fields with "<MISSING>" (one entry per frame) or
            # leaves them out; the frame's OFF/LEN bits say which frames have one.
            values = f.get(name, [])
            if len(values) == n:
                return [None if v == "<MISSING>" else v for v in values]
            it = iter(values)
            return [next(it) if bit in ("1", "True") else None for bit in present_bits]

        offsets = column("quic.stream.offset", f["quic.stream.off"])
        lengths = column("quic.stream.length", f["quic.stream.len"])
        datas = column("quic.stream_data", ["0" if ln == "0" else "1" for ln in lengths])
        for sid, off, data_hex in zip(ids, offsets, datas):
            offset = int(off) if off is not None else 0
            data = bytes.fromhex(data_hex) if data_hex is not None else b""
            buf = streams.setdefault(int(sid), bytearray())
            if len(buf) < offset + len(data):
                buf.extend(bytes(offset + len(data) - len(buf)))
            buf[offset:offset + len(data)] = data
    return streams


def test_tshark_sees_draft_stream_framing_with_our_rtp(rig, tmp_path):
    rig.need("tshark", "ffmpeg")
    port, in_port, out_port = rig.free_port(), rig.free_port(), rig.free_port()
    pcap, keylog = tmp_path / "roq.pcapng", tmp_path / "keys.log"
    sent = {}
    packets = []
    for i, chunk in enumerate(rig.real_ts(tmp_path / "in.ts", seconds=2)):
        seq, ts = (65000 + i) & 0xFFFF, (123456 + 90 * i) & 0xFFFFFFFF    # wraps past 65535
        packets.append(struct.pack(">BBHII", 0x80, 33, seq, ts, 0x1234ABCE) + chunk)
        sent[seq] = (ts, chunk)
    cap = rig.start(["tshark", "-i", "lo", "-f", f"udp port {port}", "-w", str(pcap)],
                    ready="Capturing on")
    rig.start(rig.strata("receive", "-i", f"roq://@127.0.0.1:{port}",
                         "-o", f"udp://127.0.0.1:{out_port}", "--duration", "8"),
              ready="listening on")
    tx = rig.start(rig.strata("send", "-i", f"rtp://@127.0.0.1:{in_port}",
                              "-o", f"roq://127.0.0.1:{port}?mode=frame", "--insecure",
                              "--keylog", str(keylog), "--duration", "4"), ready="send:")
    time.sleep(0.5)
    rig.blast(in_port, packets, 0.002)
    tx.finish()
    time.sleep(0.5)
    cap.stop()
    streams = _stream_bytes(pcap, keylog)
    assert len(streams) > 20                           # stream per frame: many streams
    seen = {}
    rtcp_kinds = []
    for sid, data in streams.items():
        assert sid % 4 in (2, 3), f"stream {sid} is not unidirectional"
        flow, i = decode_varint(data, 0)
        assert flow == 0
        while i < len(data):
            length, i = decode_varint(data, i)
            rtp = bytes(data[i:i + length])
            assert len(rtp) == length and rtp[0] >> 6 == 2
            if 200 <= rtp[1] <= 206:                   # RTCP multiplexed on the flow (§5.4)
                rtcp_kinds.append((sid % 4, rtp[1]))
                i += length
                continue
            assert sid % 4 == 2 and rtp[0] == 0x80 and rtp[1] & 0x7F == 33
            seq, ts = struct.unpack_from(">HI", rtp, 2)
            assert seq not in seen, f"seq {seq} on two streams"
            seen[seq] = (ts, rtp[12:])
            i += length
    assert seen == sent
    assert (2, 200) in rtcp_kinds                      # sender's SR on a client stream
    assert (3, 201) in rtcp_kinds                      # receiver's RR + CCFB on a server stream
