"""TS demuxing against PyAV's demuxer, and robustness against broken input."""

from __future__ import annotations

import av
from hypothesis import given, settings, strategies as st

from strata_roq.media.ts import (TsDemuxer, crc32_mpeg, decode_timestamp, encode_timestamp,
                                 parse_pes_header, parse_ts_header)
from strata_roq.errors import ParseError

import pytest


def _demux_all(datagrams):
    demuxer = TsDemuxer()
    units = []
    for i, d in enumerate(datagrams):
        units += demuxer.feed(d, i * 0.001)
    return demuxer, units + demuxer.flush()


def test_pes_units_match_pyav(ffmpeg_h264_ts, datagrams_of):
    demuxer, units = _demux_all(datagrams_of(ffmpeg_h264_ts))
    assert {s.codec for s in demuxer.streams.values()} == {"h264", "aac"}
    with av.open(str(ffmpeg_h264_ts)) as container:
        video = [(p.pts, p.dts, bytes(p)) for p in container.demux(video=0) if p.size]
    ours = [(u.pts, u.dts, u.data) for u in units if u.codec == "h264"]
    assert len(ours) == len(video) == 90
    assert [(p, d) for p, d, _ in ours] == [(p, d) for p, d, _ in video]
    assert all(a[2] == b[2] for a, b in zip(ours, video))  # byte-exact access units
    assert demuxer.counters.cc_errors == 0 and demuxer.counters.psi_errors == 0
    assert any(u.random_access for u in units if u.codec == "h264")
    assert demuxer.last_pcr  # PCRs were read


def test_lost_datagram_is_a_cc_error_and_a_damaged_unit(ffmpeg_h264_ts, datagrams_of):
    datagrams = datagrams_of(ffmpeg_h264_ts)
    _, clean = _demux_all(datagrams)
    # drop a datagram from the middle of a picture: 7 video packets, none starting a PES
    video_pid = next(u.pid for u in clean if u.codec == "h264")
    middle = next(i for i, d in enumerate(datagrams) if i > 20 and all(
        ((d[k + 1] & 0x1F) << 8 | d[k + 2]) == video_pid and not d[k + 1] & 0x40
        for k in range(0, 1316, 188)))
    del datagrams[middle]
    demuxer, units = _demux_all(datagrams)
    assert demuxer.counters.cc_errors == 1
    damaged = [u for u in units if u.cc_error]
    assert len(damaged) == 1 and damaged[0].codec == "h264"
    assert len(units) == len(clean)


def test_timestamps_round_trip():
    for value in (0, 1, 90000, (1 << 33) - 1, 123456789):
        assert decode_timestamp(encode_timestamp(value, 2), 0) == value


def test_crc_of_ffmpegs_pat(ffmpeg_h264_ts):
    # ffmpeg's PAT: pointer 0, then the section ending in its CRC
    data = ffmpeg_h264_ts.read_bytes()
    first = next(data[i:i + 188] for i in range(0, len(data), 188)
                 if data[i + 1] & 0x1F == 0 and data[i + 2] == 0)  # PID 0
    section = first[5:5 + 3 + (((first[6] & 0x0F) << 8) | first[7])]
    assert crc32_mpeg(section) == 0
    assert crc32_mpeg(section[:-4]) == int.from_bytes(section[-4:], "big")
    assert crc32_mpeg(section[:-1] + bytes([section[-1] ^ 1])) != 0


def test_pes_header_errors():
    with pytest.raises(ParseError):
        parse_pes_header(b"\x00\x00\x02\xe0\x00\x00\x80\x80\x05")
    with pytest.raises(ParseError):
        parse_pes_header(b"\x00\x00\x01\xe0\x00\x00\x80\x80\x05\x21")  # PTS cut short
    header = parse_pes_header(b"\x00\x00\x01\xe0\x00\x00\x80\x80\x05" + encode_timestamp(900, 2))
    assert header.pts == 900 and header.header_length == 14


def test_bad_sync_truncation_and_garbage_are_counted(ffmpeg_h264_ts, datagrams_of):
    datagrams = datagrams_of(ffmpeg_h264_ts)
    demuxer = TsDemuxer()
    good = sum(len(demuxer.feed(d, 0.0)) for d in datagrams[:30])
    demuxer.feed(b"\x48" + datagrams[30][1:], 0.0)            # bad sync byte
    demuxer.feed(datagrams[31][:100], 0.0)                    # truncated datagram
    demuxer.feed(b"\x47" + bytes(range(187)) * 1, 0.0)        # garbage packet
    c = demuxer.counters
    assert good > 0 and c.sync_errors == 1 and c.truncated == 1


@settings(max_examples=300)
@given(st.binary(min_size=0, max_size=188 * 4))
def test_random_bytes_never_raise(data):
    demuxer = TsDemuxer()
    demuxer.feed(data, 0.0)
    demuxer.feed(b"\x47" + data[:187].ljust(187, b"\xff"), 0.0)
    demuxer.flush()


@settings(max_examples=200)
@given(st.data())
def test_mutated_streams_never_raise(ffmpeg_h264_ts, datagrams_of, data):
    datagrams = datagrams_of(ffmpeg_h264_ts)[:40]
    demuxer = TsDemuxer()
    for d in datagrams:
        mutated = bytearray(d)
        for _ in range(data.draw(st.integers(0, 4))):
            pos = data.draw(st.integers(0, len(mutated) - 1))
            mutated[pos] = data.draw(st.integers(0, 255))
        demuxer.feed(bytes(mutated), 0.0)
    demuxer.flush()


def test_ts_header_with_adaptation_field_and_pcr():
    pkt = bytearray(188)
    pkt[0:4] = b"\x47\x41\x00\x30"  # PUSI, PID 0x100, AF + payload, CC 0
    pkt[4] = 7
    pkt[5] = 0x50  # random access + PCR
    pcr_base, pcr_ext = 123456, 17
    pkt[6:12] = (((pcr_base << 15) | (0x3F << 9) | pcr_ext)).to_bytes(6, "big")
    header = parse_ts_header(bytes(pkt))
    assert header.pid == 0x100 and header.pusi and header.random_access
    assert header.pcr == pcr_base * 300 + pcr_ext and header.payload_offset == 12
    pkt[4] = 200
    with pytest.raises(ParseError):
        parse_ts_header(bytes(pkt))


def test_a_damaged_unit_is_dated_by_its_last_packet_before_the_gap(ffmpeg_h264_ts, datagrams_of):
    # Whatever follows a continuity gap may be a later PES's tail (its start dropped as late):
    # it must not make this unit look later than it was.
    datagrams = datagrams_of(ffmpeg_h264_ts)
    video_pid = next(u.pid for u in _demux_all(datagrams)[1] if u.codec == "h264")
    middle = next(i for i, d in enumerate(datagrams) if i > 20 and all(
        ((d[k + 1] & 0x1F) << 8 | d[k + 2]) == video_pid and not d[k + 1] & 0x40
        for k in range(0, 1316, 188)))
    demuxer = TsDemuxer()
    units = []
    for i, d in enumerate(datagrams):
        if i != middle:
            units += demuxer.feed(d, 1000.0 if i > middle else i * 0.001)
    [damaged] = [u for u in units if u.cc_error]
    assert damaged.last_time == pytest.approx((middle - 1) * 0.001)


def test_es_descriptors_are_added_to_a_pmt_with_a_valid_crc():
    from strata_roq.media.ts import PsiTables, TsCounters, add_es_descriptors, crc32_mpeg

    section = bytearray(b"\x02\xb0\x00\x00\x01\xc1\x00\x00\xe1\x00\xf0\x00"
                        b"\x06\xe1\x00\xf0\x00" b"\x0f\xe1\x01\xf0\x00")
    section[2] = len(section) + 4 - 3
    section += crc32_mpeg(bytes(section)).to_bytes(4, "big")
    packet = b"\x47\x50\x00\x10\x00" + bytes(section)
    packet += b"\xff" * (188 - len(packet))
    extra = b"\x05\x04AV01\x80\x04\x81\x01\x0c\xc0"
    out = add_es_descriptors(packet, 0x100, extra)
    assert len(out) == 188 and out != packet
    assert add_es_descriptors(out, 0x100, extra) == out                 # once only
    assert add_es_descriptors(packet, 0x555, extra) == packet           # no such stream
    assert add_es_descriptors(b"\x47\x01\x00\x10" + b"\x00" * 184, 0x100, extra)[1] == 1
    psi = PsiTables(TsCounters())
    pat = b"\x00\x00\xb0\x0d\x00\x01\xc1\x00\x00\x00\x01\xf0\x00"
    pat += crc32_mpeg(pat[1:]).to_bytes(4, "big")
    psi.feed(b"\x47\x40\x00\x10" + pat + b"\xff" * (184 - len(pat)), 0, parse_ts_header(
        b"\x47\x40\x00\x10" + b"\xff" * 184))
    psi.feed(out, 0, parse_ts_header(out))
    assert psi.counters.psi_errors == 0
    assert psi.streams[0x100].codec == "av1" and psi.streams[0x101].codec == "aac"
