"""RTP packets: known bytes, round trips for any valid packet, fuzzing, RFC 8285 extensions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from strata_roq.errors import ParseError
from strata_roq.rtp.packet import (ONE_BYTE_PROFILE, TWO_BYTE_PROFILE, RtpPacket, is_rtcp,
                                   parse_rtp, payload_bounds, peek_seq, peek_ssrc, peek_timestamp)


def test_known_bytes():
    # V=2 P=0 X=0 CC=0 | M=1 PT=96 | seq 0x1234 | ts 0xdeadbeef | ssrc 0x01020304 | payload
    data = bytes.fromhex("80e01234deadbeef01020304") + b"hello"
    p = parse_rtp(data)
    assert (p.payload_type, p.marker, p.sequence_number, p.timestamp, p.ssrc) == \
        (96, True, 0x1234, 0xDEADBEEF, 0x01020304)
    assert bytes(p.payload) == b"hello" and isinstance(p.payload, memoryview)
    assert p.build() == data
    assert (peek_seq(data), peek_timestamp(data), peek_ssrc(data)) == (0x1234, 0xDEADBEEF, 0x01020304)
    assert payload_bounds(data) == (12, 17)


def test_csrc_extension_and_padding():
    p = RtpPacket(33, 7, 9000, 0xAABBCCDE, b"x" * 10, csrc=(1, 2), padding=3)
    p.set_extensions([(1, b"\x01\x02"), (14, b"abc")])
    data = p.build()
    q = parse_rtp(data)
    assert q.csrc == (1, 2) and q.padding == 3 and bytes(q.payload) == b"x" * 10
    assert q.extension_profile == ONE_BYTE_PROFILE
    assert q.extensions() == [(1, b"\x01\x02"), (14, b"abc")]
    assert payload_bounds(data) == (len(data) - 13, len(data) - 3)
    p.set_extensions([(200, b"long" * 10)])
    assert p.extension_profile == TWO_BYTE_PROFILE
    assert parse_rtp(p.build()).extensions() == [(200, b"long" * 10)]


@pytest.mark.parametrize("data, why", [
    (b"\x80\x60\x00", "shorter"),
    (bytes.fromhex("40601234deadbeef01020304"), "version"),
    (bytes.fromhex("82601234deadbeef01020304") + b"\x00\x00\x00\x01", "CSRC"),
    (bytes.fromhex("90601234deadbeef01020304") + b"\xbe\xde\x00\x05", "extension"),
    (bytes.fromhex("a0601234deadbeef01020304") + b"ab\x00", "padding"),
    (bytes.fromhex("a0601234deadbeef01020304") + b"ab\x09", "padding"),
])
def test_malformed_packets_raise_parse_error(data, why):
    with pytest.raises(ParseError, match=why):
        parse_rtp(data)
    with pytest.raises(ParseError):
        payload_bounds(data)


def test_rtcp_demultiplexing():
    assert is_rtcp(bytes.fromhex("80c80006")) and is_rtcp(bytes.fromhex("81cd0003"))
    assert not is_rtcp(bytes.fromhex("80e01234")) and not is_rtcp(bytes.fromhex("80211234"))


_elements = st.lists(st.tuples(st.integers(1, 14), st.binary(min_size=1, max_size=16)),
                     max_size=4)
packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127), sequence_number=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF), ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=1500), marker=st.booleans(),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    padding=st.integers(0, 255))


@settings(max_examples=400)
@given(packets, _elements)
def test_any_valid_packet_round_trips(packet, elements):
    if elements:
        packet.set_extensions(elements)
    data = packet.build()
    parsed = parse_rtp(data)
    assert parsed.build() == data
    assert bytes(parsed.payload) == bytes(packet.payload)
    assert (parsed.sequence_number, parsed.timestamp, parsed.ssrc, parsed.marker,
            parsed.payload_type, parsed.csrc, parsed.padding) == \
        (packet.sequence_number, packet.timestamp, packet.ssrc, packet.marker,
         packet.payload_type, packet.csrc, packet.padding)
    assert parsed.extensions() == elements


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_parse_error(data):
    for fn in (parse_rtp, payload_bounds, peek_seq, peek_ssrc, peek_timestamp):
        try:
            fn(data)
        except ParseError:
            pass
    try:
        parse_rtp(data).extensions()
    except ParseError:
        pass


@settings(max_examples=300)
@given(packets, st.data())
def test_truncated_or_flipped_packets_never_raise_anything_else(packet, data):
    raw = bytearray(packet.build())
    cut = data.draw(st.integers(0, len(raw)))
    pos = data.draw(st.integers(0, max(0, len(raw) - 1)))
    if raw:
        raw[pos] ^= data.draw(st.integers(1, 255))
    for candidate in (bytes(raw[:cut]), bytes(raw)):
        try:
            parse_rtp(candidate).extensions()
        except ParseError:
            pass
