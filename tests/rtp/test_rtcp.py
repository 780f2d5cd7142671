"""RTCP compounds: every packet type round-trips; librist's byte layouts; fuzzing."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st

from strata_roq.errors import ParseError
from strata_roq.rtp.rtcp import (App, Bye, Ccfb, CcfbReport, GenericNack, Pli, ReceiverReport,
                                 ReportBlock, RistEcho, RistRangeNack, Sdes, SdesChunk,
                                 SenderReport, Tmmbr, UnknownRtcp, Xr, build_rtcp_compound,
                                 parse_rtcp_compound)

u32 = st.integers(0, 0xFFFFFFFF)
u16 = st.integers(0, 0xFFFF)
blocks = st.builds(ReportBlock, u32, st.integers(0, 255), st.integers(-(1 << 23), (1 << 23) - 1),
                   u32, u32, u32, u32)
rtcp_packets = st.one_of(
    st.builds(SenderReport, u32, st.integers(0, 2**64 - 1), u32, u32, u32,
              st.lists(blocks, max_size=3)),
    st.builds(ReceiverReport, u32, st.lists(blocks, max_size=3)),
    st.builds(Sdes, st.lists(st.builds(SdesChunk, u32, st.lists(
        st.tuples(st.integers(1, 8), st.binary(max_size=40)), max_size=3)), max_size=3)),
    st.builds(Bye, st.lists(u32, max_size=4), st.binary(max_size=30)),
    st.builds(App, st.integers(4, 31), u32, st.just(b"STRA"), st.binary(max_size=12).map(
        lambda b: b + bytes(-len(b) % 4))),
    st.builds(RistRangeNack, u32, st.lists(st.tuples(u16, u16), max_size=10)),
    st.builds(RistEcho, u32, st.integers(0, 2**64 - 1), u32, st.booleans()),
    st.builds(GenericNack, u32, u32, st.lists(st.tuples(u16, u16), max_size=10)),
    st.builds(Pli, u32, u32),
    st.builds(Ccfb, u32, st.lists(st.builds(CcfbReport, u32, u16, st.lists(
        st.one_of(st.just((False, 0, 0)), st.tuples(st.just(True), st.integers(0, 3),
                                                     st.integers(0, 0x1FFF))),
        min_size=1, max_size=40)), max_size=3), u32),
    st.builds(Xr, u32, st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255),
                                          st.binary(max_size=16).map(lambda b: b + bytes(-len(b) % 4))),
                                max_size=3)),
    st.builds(UnknownRtcp, st.integers(0, 31), st.integers(208, 223),
              st.binary(max_size=16).map(lambda b: b + bytes(-len(b) % 4))),
)


@settings(max_examples=400)
@given(st.lists(rtcp_packets, min_size=1, max_size=5))
def test_any_valid_compound_round_trips(packets):
    data = build_rtcp_compound(packets)
    parsed = parse_rtcp_compound(data)
    assert parsed == packets
    assert build_rtcp_compound(parsed) == data


def test_tmmbr_round_trips_rates():
    t = Tmmbr(1, [(2, 4_000_000, 40), (3, 131071, 0)])
    parsed, = parse_rtcp_compound(t.build())
    rates = [r for _, r, _ in parsed.entries]
    assert rates[1] == 131071 and 0.9999 * 4_000_000 <= rates[0] <= 4_000_000
    assert parsed.entries[0][2] == 40 and not parsed.notification


def test_rist_range_nack_bytes_match_librist_layout():
    nack = RistRangeNack.from_seqs(0x11223344, [10, 11, 12, 20, 65535, 0, 1])
    assert nack.ranges == [(10, 2), (20, 0), (65535, 2)]
    data = nack.build()
    # 80 CC len(=2+records) SSRC "RIST" {u16 start, u16 extra}...
    assert data == (bytes.fromhex("80cc0005") + bytes.fromhex("11223344") + b"RIST"
                    + bytes.fromhex("000a0002" "00140000" "ffff0002"))
    assert parse_rtcp_compound(data)[0].seqs() == [10, 11, 12, 20, 65535, 0, 1]


def test_rist_echo_bytes_match_librist_layout():
    req = RistEcho(0xAABBCCDD, 0x0102030405060708, 0)
    assert req.build() == bytes.fromhex("82cc0005aabbccdd") + b"RIST" + bytes.fromhex(
        "0102030405060708" "00000000")
    resp = RistEcho(0xAABBCCDD, 0x0102030405060708, 1500, response=True)
    assert resp.build()[:4] == bytes.fromhex("83cc0005") and len(resp.build()) == 24
    assert parse_rtcp_compound(resp.build()) == [resp]


def test_generic_nack_bitmask():
    nack = GenericNack.from_seqs(1, 2, [100, 101, 116, 117, 65535, 3])
    assert nack.items == [(100, 1 | 1 << 15), (117, 0), (65535, 1 << 3)]
    assert nack.seqs() == [100, 101, 116, 117, 65535, 3]
    assert nack.build()[:2] == b"\x81\xcd"


def test_ccfb_arrival_times_round_trip():
    report_time = 1000.0
    ccfb = Ccfb.from_arrivals(7, report_time, {
        0x55: [(65534, 999.9, 0), (65535, None, 0), (1, 999.95, 1), (0, 999.99, 0)],
        0x66: [(10, 990.0, 0)]})  # 10 s before the report: over range
    data = ccfb.build()
    assert data[:2] == b"\x8b\xcd"  # FMT 11, PT 205
    parsed, = parse_rtcp_compound(data)
    assert parsed.reports[0].begin_seq == 65534 and len(parsed.reports[0].metrics) == 4
    arrivals = dict(parsed.arrivals(report_time)[0x55])
    assert arrivals[65535] is None
    assert abs(arrivals[65534] - 999.9) < 1 / 1024 and abs(arrivals[0] - 999.99) < 1 / 1024
    assert parsed.reports[0].metrics[3][1] == 1  # ECN of seq 1
    assert parsed.arrivals(report_time)[0x66] == [(10, None)]
    assert parsed.reports[1].metrics[0][:2] == (True, 0)


def test_sdes_cname_and_xr_helpers():
    sdes = Sdes.cname(0x1234, "strata@host")
    parsed, = parse_rtcp_compound(sdes.build())
    assert parsed.chunks[0].cname == "strata@host" and parsed.chunks[0].ssrc == 0x1234
    xr = Xr(9, [(4, 0, struct.pack(">Q", 123456789)), (5, 0, struct.pack(">III", 1, 2, 3))])
    parsed, = parse_rtcp_compound(xr.build())
    assert parsed.rrtr() == 123456789 and parsed.dlrr() == [(1, 2, 3)]


def test_padding_on_the_last_packet():
    data = bytearray(ReceiverReport(5).build() + Pli(1, 2).build())
    # pad the PLI by 4 bytes: P bit, length + 1 word, last byte = 4
    data[8] |= 0x20
    data[10:12] = (struct.unpack(">H", data[10:12])[0] + 1).to_bytes(2, "big")
    data += b"\x00\x00\x00\x04"
    assert parse_rtcp_compound(bytes(data)) == [ReceiverReport(5), Pli(1, 2)]


@pytest.mark.parametrize("data, why", [
    (b"\x80\xc9", "shorter"),
    (bytes.fromhex("40c90001") + bytes(4), "version"),
    (bytes.fromhex("80c90005") + bytes(4), "runs past"),
    (bytes.fromhex("81c90001") + bytes(4), "report blocks"),
    (bytes.fromhex("80c90001") + bytes(4) + b"\x80", "trailing"),
    (bytes.fromhex("a0c90001") + bytes(4), "padding"),
])
def test_malformed_compounds(data, why):
    with pytest.raises(ParseError, match=why):
        parse_rtcp_compound(data)


@settings(max_examples=500)
@given(st.binary(max_size=120))
def test_any_bytes_parse_or_raise_parse_error(data):
    for candidate in (data, b"\x80" + data, bytes([0x80 | (len(data) % 32), 200 + len(data) % 8,
                                                    0, len(data) // 4]) + data):
        try:
            parse_rtcp_compound(candidate)
        except ParseError:
            pass


@settings(max_examples=300)
@given(st.lists(rtcp_packets, min_size=1, max_size=3), st.data())
def test_mutated_compounds_never_raise_anything_else(packets, data):
    raw = bytearray(build_rtcp_compound(packets))
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    for candidate in (bytes(raw), bytes(raw[:data.draw(st.integers(0, len(raw)))])):
        try:
            parse_rtcp_compound(candidate)
        except ParseError:
            pass


def test_ccfb_from_reordered_and_wrapping_arrivals():
    from strata_roq.rtp.rtcp import Ccfb, parse_rtcp_compound
    arrivals = {5: [(2, 1.0, 0), (65534, 1.01, 0), (0, 1.02, 0), (65535, 1.03, 0), (1, 1.04, 0)]}
    built = Ccfb.from_arrivals(9, 1.1, arrivals).build()
    ccfb = parse_rtcp_compound(built)[0]
    assert ccfb.reports[0].begin_seq == 65534 and len(ccfb.reports[0].metrics) == 5
    got = {seq for seq, t in ccfb.arrivals(1.1)[5] if t is not None}
    assert got == {65534, 65535, 0, 1, 2}
    wide = Ccfb.from_arrivals(9, 1.0, {5: [(0, 0.9, 0), (20000, 0.95, 0)]})
    assert len(wide.reports[0].metrics) == 16384 and wide.build()   # clamped to the newest
