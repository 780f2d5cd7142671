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
