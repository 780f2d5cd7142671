"""RoQ framing: varints, stream records split anywhere, datagrams, error codes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from strata_roq.roq.framing import (ALPN, MAX_VARINT, RoqErrorCode, RoqProtocolError,
                                    StreamParser, decode_varint, encode_datagram,
                                    encode_stream_record, encode_stream_start, encode_varint,
                                    parse_datagram)


def test_rfc9000_varint_examples():
    # RFC 9000 §A.1 sample encodings
    for hexed, value in [("c2197c5eff14e88c", 151288809941952652), ("9d7f3e7d", 494878333),
                         ("7bbd", 15293), ("25", 37), ("4025", 37)]:
        assert decode_varint(bytes.fromhex(hexed)) == (value, len(hexed) // 2)
    assert encode_varint(37) == b"\x25" and encode_varint(15293) == bytes.fromhex("7bbd")
    assert decode_varint(b"\x40") is None and decode_varint(b"") is None
    with pytest.raises(ValueError):
        encode_varint(MAX_VARINT + 1)
    assert ALPN == "roq-14" and RoqErrorCode.FRAME_CANCELLED == 0x05


@given(st.integers(0, MAX_VARINT))
def test_varint_round_trip(value):
    data = encode_varint(value)
    assert decode_varint(data) == (value, len(data))
    assert decode_varint(data[:-1]) is None


packets = st.lists(st.binary(min_size=1, max_size=2000), max_size=12)


@settings(max_examples=300)
@given(st.integers(0, MAX_VARINT), packets, st.data())
def test_stream_round_trip_split_anywhere(flow_id, pkts, data):
    wire = encode_stream_start(flow_id, pkts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    parser = StreamParser()
    got, last = [], 0
    for cut in cuts + [len(wire)]:
        got += parser.feed(wire[last:cut], end_stream=cut == len(wire))
        last = cut
    assert got == pkts and parser.flow_id == flow_id and parser.pending == 0


def test_byte_by_byte():
    pkts = [bytes([i]) * (i * 37 + 1) for i in range(50)]
    wire = encode_stream_start(7, pkts)
    parser = StreamParser()
    got = [p for i in range(len(wire)) for p in parser.feed(wire[i:i + 1])]
    assert got == pkts and parser.pending == 0


def test_a_large_packet_fed_byte_by_byte_is_accumulated_not_rejoined():
    # A peer may send one-byte STREAM frames: the incomplete packet must grow in place
    # (amortised O(1) per byte), not be re-joined from scratch on every byte (quadratic:
    # ~2 GB of copying for one 64 KiB packet).
    packet = bytes(range(256)) * 255
    wire = encode_stream_start(0, [packet])
    parser = StreamParser()
    got = [p for i in range(8) for p in parser.feed(wire[i:i + 1])]
    buffer = parser._tail
    for i in range(8, len(wire) - 1):
        assert parser.feed(wire[i:i + 1]) == []
        assert parser._tail is buffer              # the same buffer, grown in place
    got += parser.feed(wire[-1:], end_stream=True)
    assert got == [packet] and parser.pending == 0


@pytest.mark.parametrize("wire, why", [
    (b"\x00\x00", "length 0"),                                   # zero-length packet
    (b"\x00" + encode_varint(70000) + b"x", "length 70000"),     # longer than any packet
])
def test_bad_lengths_are_packet_errors(wire, why):
    with pytest.raises(RoqProtocolError, match=why) as info:
        StreamParser().feed(wire)
    assert info.value.code == RoqErrorCode.PACKET_ERROR


def test_fin_inside_a_packet_or_flow_id_is_a_packet_error():
    with pytest.raises(RoqProtocolError) as info:
        StreamParser().feed(b"\x01\x05abc", end_stream=True)
    assert info.value.code == RoqErrorCode.PACKET_ERROR
    with pytest.raises(RoqProtocolError, match="flow id"):
        StreamParser().feed(b"\x80\x00", end_stream=True)
    assert StreamParser().feed(b"", end_stream=True) == []


def test_datagrams():
    payload = encode_datagram(300, b"\x80\x21rtp")
    assert parse_datagram(payload)[0] == 300 and bytes(parse_datagram(payload)[1]) == b"\x80\x21rtp"
    for bad in (b"", b"\x41", b"\x05"):
        with pytest.raises(RoqProtocolError) as info:
            parse_datagram(bad)
        assert info.value.code == RoqErrorCode.PACKET_ERROR
    with pytest.raises(ValueError):
        encode_stream_record(b"")


@settings(max_examples=500)
@given(st.lists(st.binary(max_size=64), max_size=6), st.booleans())
def test_garbage_raises_only_protocol_errors(chunks, fin):
    parser = StreamParser()
    try:
        for i, c in enumerate(chunks):
            parser.feed(c, end_stream=fin and i == len(chunks) - 1)
    except RoqProtocolError as exc:
        assert exc.code == RoqErrorCode.PACKET_ERROR
    for c in chunks:
        try:
            parse_datagram(c)
        except RoqProtocolError:
            pass
