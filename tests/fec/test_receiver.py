import random
import struct

from strata_roq.fec.packets import is_repair, make_repair_packet
from strata_roq.fec.raptor import BlockEncoder, RepairHeader
from strata_roq.fec.receiver import FecReceiver


def _media(seq, rng):
    return struct.pack(">BBHII", 0x80, 33, seq, 9000 * seq, 0x1234) + rng.randbytes(1316)


def _block(first, k, r, rng, block_id=1):
    media = [_media((first + i) % 65536, rng) for i in range(k)]
    enc = BlockEncoder(media)
    header = RepairHeader(block_id, first, tuple((first + i) % 65536 for i in range(k)),
                          enc.symbol_size)
    repairs = [make_repair_packet(header, s, ssrc=0x1234, seq=500 + n, timestamp=9000 * first)
               for n, s in enumerate(enc.repair(r))]
    return media, repairs


def test_sources_first_then_repairs_rebuild_the_gaps():
    rng = random.Random(1)
    media, repairs = _block(65530, 10, 3, rng)          # wraps the sequence space
    rx = FecReceiver()
    for i, m in enumerate(media):
        if i not in (2, 7):
            assert rx.on_media((m[2] << 8) | m[3], m) == []
    out = []
    for rp in repairs:
        assert is_repair(rp)
        out += rx.on_repair(rp)
    assert sorted(out) == sorted([media[2], media[7]])
    assert rx.stats.recovered == 2


def test_repairs_first_then_sources_rebuild_too():
    rng = random.Random(2)
    media, repairs = _block(100, 8, 2, rng)
    rx = FecReceiver()
    out = []
    for rp in repairs:
        out += rx.on_repair(rp)
    for i, m in enumerate(media):
        if i != 4:
            out += rx.on_media((m[2] << 8) | m[3], m)
    # k symbols are in once source 6 arrives: 4 is rebuilt, and 7 ahead of its own arrival
    assert out == [media[4], media[7]]


def test_too_few_symbols_rebuild_nothing_and_garbage_is_counted():
    rng = random.Random(3)
    media, repairs = _block(7, 6, 1, rng)
    rx = FecReceiver()
    for m in media[2:]:
        rx.on_media((m[2] << 8) | m[3], m)
    assert rx.on_repair(repairs[0]) == []
    assert rx.on_repair(repairs[0][:14]) == []
    assert rx.on_repair(repairs[0][:12] + b"\xf1" + bytes(40)) == []
    assert rx.stats.malformed == 2 and rx.stats.recovered == 0


def test_complete_blocks_need_no_repair():
    rng = random.Random(4)
    media, repairs = _block(1, 4, 2, rng)
    rx = FecReceiver()
    for m in media:
        rx.on_media((m[2] << 8) | m[3], m)
    assert rx.on_repair(repairs[0]) == [] and rx.stats.recovered == 0


def _xor_group(first, k, rng, block_id=9):
    from strata_roq.fec.raptor import XOR_TYPE
    from strata_roq.fec.xor import parity

    media = [_media(first + i, rng) for i in range(k)]
    header = RepairHeader(block_id, first, tuple(first + i for i in range(k)), 0, XOR_TYPE)
    return media, make_repair_packet(header, parity(media), ssrc=0x1234, seq=1, timestamp=0)


def test_xor_parity_rebuilds_the_one_missing_packet_in_any_order():
    rng = random.Random(6)
    media, par = _xor_group(200, 3, rng)
    rx = FecReceiver()                                  # parity after the others
    rx.on_media(200, media[0])
    rx.on_media(202, media[2])
    assert rx.on_repair(par) == [media[1]]
    rx = FecReceiver()                                  # parity first, two still missing
    assert rx.on_repair(par) == []
    assert rx.on_media(200, media[0]) == []
    assert rx.on_media(201, media[1]) == [media[2]]
    assert rx.stats.recovered == 1


def test_xor_parity_with_two_lost_rebuilds_nothing():
    rng = random.Random(7)
    media, par = _xor_group(10, 3, rng)
    rx = FecReceiver()
    rx.on_media(10, media[0])
    assert rx.on_repair(par) == [] and rx.stats.recovered == 0
