import random

import pytest
from hypothesis import given, settings, strategies as st

from strata_roq.errors import ParseError
from strata_roq.fec.raptor import BlockDecoder, BlockEncoder, RepairHeader, slot_size


def _packets(rng, k):
    return [rng.randbytes(rng.choice((100, 1328, rng.randint(12, 1400)))) for _ in range(k)]


def _decode(packets, repairs, lost_sources, lost_repairs):
    enc_k = len(packets)
    dec = BlockDecoder(enc_k, slot_size(max(map(len, packets))))
    rebuilt = {}
    for i, p in enumerate(packets):
        if i not in lost_sources:
            rebuilt.update(dec.add_source(i, p))
    for j, r in enumerate(repairs):
        if j not in lost_repairs:
            rebuilt.update(dec.add_repair(r))
    return dec, rebuilt


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(0, 6), st.randoms(use_true_random=False))
def test_any_losses_up_to_the_repair_count_are_rebuilt(k, r, rnd):
    rng = random.Random(rnd.random())
    packets = _packets(rng, k)
    enc = BlockEncoder(packets)
    repairs = enc.repair(r + 1)                 # one symbol of margin (RFC 6330 overhead)
    symbols = list(range(k + r + 1))
    lost = set(rng.sample(symbols, rng.randint(0, r)))
    dec, rebuilt = _decode(packets, repairs, {s for s in lost if s < k},
                           {s - k for s in lost if s >= k})
    for i, packet in rebuilt.items():
        assert packet == packets[i]             # never a wrong packet
    assert set(rebuilt) == {s for s in lost if s < k}


def test_more_losses_than_symbols_rebuild_nothing():
    rng = random.Random(2)
    packets = _packets(rng, 10)
    repairs = BlockEncoder(packets).repair(2)
    dec, rebuilt = _decode(packets, repairs, {0, 1, 2, 3}, set())
    assert rebuilt == {} and not dec.complete


def test_top_up_symbols_are_new():
    rng = random.Random(4)
    packets = _packets(rng, 8)
    enc = BlockEncoder(packets)
    first, more = enc.repair(2), enc.repair(3)
    assert len(set(first + more)) == 5
    # the first two repairs lost on a dead path; three sources lost too: the top-up suffices
    dec, rebuilt = _decode(packets, first + more, {1, 4, 6}, {0, 1})
    assert {i: packets[i] for i in (1, 4, 6)} == rebuilt


def test_foreign_symbols_are_ignored():
    rng = random.Random(5)
    packets = _packets(rng, 4)
    dec = BlockDecoder(4, slot_size(max(map(len, packets))))
    assert dec.add_repair(b"\x00\x00\x00\x01" + b"x") == []            # wrong size
    assert dec.add_source(9, packets[0]) == []                         # no such index
    enc = BlockEncoder(packets)
    wrong_sbn = b"\x01" + enc.repair(1)[0][1:]
    assert dec.add_repair(wrong_sbn) == []


def test_repair_header_round_trip_with_gaps_and_wrap():
    h = RepairHeader(7, 65530, (65530, 65532, 65535, 1, 3), 1336)
    parsed, rest = RepairHeader.parse(h.encode() + b"SYMBOL")
    assert parsed == h and rest == b"SYMBOL"


@given(st.binary(max_size=64))
def test_malformed_headers_raise_parse_error_only(data):
    try:
        RepairHeader.parse(data)
    except ParseError:
        pass


def test_block_shape_limits():
    with pytest.raises(ValueError):
        BlockEncoder([])
    with pytest.raises(ValueError):
        BlockDecoder(4, 13)
    with pytest.raises(ValueError):
        BlockDecoder(4, 56)          # raptorq would not keep symbols this small aligned


def test_tiny_packets_still_map_onto_symbols():
    packets = [b"a", b"bc", b"def"]
    enc = BlockEncoder(packets)
    dec, rebuilt = _decode(packets, enc.repair(2), {0, 2}, set())
    assert rebuilt == {0: b"a", 2: b"def"}


def test_xor_parity_headers_round_trip():
    from strata_roq.fec.raptor import XOR_TYPE

    h = RepairHeader(3, 100, (100, 101), 0, XOR_TYPE)
    parsed, rest = RepairHeader.parse(h.encode() + b"P")
    assert parsed == h and parsed.kind == XOR_TYPE and rest == b"P"
    with pytest.raises(ParseError):                  # XOR parity carries no symbol size
        RepairHeader.parse(RepairHeader(3, 100, (100,), 64, XOR_TYPE).encode())
