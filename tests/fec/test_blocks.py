import random

from strata_roq.fec.blocks import BlockTracker, FecSender
from strata_roq.fec.policy import ProtectionPolicy
from strata_roq.sched.base import SchedPacket


def _sender(mode="static", paths=3, **kw):
    seqs = iter(range(10_000, 20_000))
    return FecSender(ProtectionPolicy(mode, **kw), paths, lambda: next(seqs), window=0.1)


def _pkt(seq, key=False, audio=False, deadline=1.0, frame=0):
    return SchedPacket(seq, 1328, frame, deadline, 7 if key else (6 if audio else 3),
                       key or audio, key)


def test_blocks_by_class_closed_by_window_or_key_frame_end():
    fec = _sender(overhead=0.5)
    live = [0, 1, 2]
    for s in range(4):
        assert fec.add(_pkt(s), 0.0, live) == []
    fec.add(_pkt(4, audio=True), 0.0, live)
    key = [_pkt(s, key=True) for s in range(5, 15)]
    for p in key:
        assert fec.add(p, 0.01, live) == []
    repairs = fec.end_frame(True, 0.01)
    assert len(repairs) == 5 and all(r.repair and r.key for r in repairs)
    assert fec.block_of[repairs[0].seq].seqs == list(range(5, 15))
    assert fec.flush(0.05) == []                       # delta/audio windows still open
    late = fec.flush(0.11)
    # delta: 4 × 0.5 = 2 repairs; audio: 1 × 0.5 carried over to its next block
    assert sorted(len(fec.block_of[r.seq].seqs) for r in late) == [4, 4]
    assert fec.open == {}


def test_full_block_closes_at_max_k():
    fec = _sender(overhead=0.25)
    fec.max_k = 8
    out = []
    for s in range(8):
        out += fec.add(_pkt(s), 0.0, [0, 1])
    assert len(out) == 2 and fec.open == {}


def test_a_block_never_spans_more_than_255_sequence_numbers():
    fec = _sender(overhead=1.0)
    out = fec.add(_pkt(0), 0.0, [0])
    out += fec.add(_pkt(254), 0.0, [0])
    assert out == []
    out = fec.add(_pkt(255), 0.0, [0])
    assert len(out) == 2 and fec.block_of[out[0].seq].seqs == [0, 254]


def test_fec_then_arq_bookkeeping():
    fec = _sender(overhead=0.5)
    pkts = [_pkt(s) for s in range(4)]
    for p in pkts:
        fec.add(p, 0.0, [0, 1])
    repairs = fec.flush(1.0, force=True)
    assert len(repairs) == 2
    for p in pkts + repairs:
        fec.on_sent(0, p)
    # one source lost, the rest in flight: the block will still have k symbols
    fec.on_outcome(0, pkts[0], True, 0.1)
    assert fec.covers(pkts[0])
    # two more lost: 3 symbols left of 4 needed → the skipped one needs ARQ after all
    fec.on_outcome(0, repairs[0], True, 0.1)
    assert fec.uncovered(repairs[0]) == []              # still 4 expected
    fec.on_outcome(0, pkts[1], True, 0.1)
    assert fec.uncovered(pkts[1]) == [pkts[0]]
    assert not fec.covers(pkts[1])


def test_top_up_replaces_what_a_dead_path_took():
    fec = _sender(overhead=0.25)
    pkts = [_pkt(s) for s in range(8)]
    for p in pkts:
        fec.add(p, 0.0, [0, 1])
    repairs = fec.flush(1.0, force=True)
    assert len(repairs) == 2
    for i, p in enumerate(pkts + repairs):
        fec.on_sent(i % 2, p)                           # 5 symbols on each path
    for p in pkts[1::2]:
        fec.on_outcome(1, p, False, 0.2)                # path 1 delivered its 4 sources
    extra = fec.top_up(0, 0.3, lambda deadline: True)   # path 0 dies with 5 symbols
    # 4 delivered + 1 repair still in flight on path 1: 3 new symbols make k = 8 again
    assert len(extra) == 3 and all(r.repair for r in extra)
    assert fec.counters["top_up"] == 3
    assert fec.top_up(0, 0.3, lambda deadline: True) == []   # nothing more in flight there
    assert fec.top_up(1, 0.3, lambda deadline: False) == []  # past saving: no top-up


def test_xor_pins_data_and_parity_to_distinct_paths():
    fec = _sender("xor")
    live = [0, 1, 2]
    out = []
    pkts = [_pkt(s) for s in range(6)]
    for p in pkts:
        out += fec.add(p, 0.0, live)
    assert len(out) == 3                                # k = 2 per group of 3 paths
    for g in range(3):
        group = pkts[2 * g:2 * g + 2] + [out[g]]
        assert sorted(p.path for p in group) == [0, 1, 2]
    fec.add(_pkt(6), 0.0, live)
    assert len(fec.flush(0.2)) == 1                     # an old half group still gets parity


def test_tracker_rebuilds_once_k_symbols_arrived():
    fec = _sender(overhead=0.5)
    pkts = [_pkt(s) for s in range(4)]
    for p in pkts:
        fec.add(p, 0.0, [0])
    repairs = fec.flush(1.0, force=True)
    block = fec.block_of[0]
    tracker = BlockTracker(rng=None)
    assert tracker.on_arrival(block, 0) == []
    assert tracker.on_arrival(block, repairs[0].seq) == []
    assert tracker.on_arrival(block, 3) == []
    assert tracker.on_arrival(block, repairs[1].seq) == [1, 2]   # k = 4 symbols
    assert tracker.recovered == 2 and tracker.on_arrival(block, 1) == []


def test_tracker_judges_a_block_only_once_it_is_closed():
    fec = _sender(overhead=1.0)
    fec.add(_pkt(0), 0.0, [0])
    block = fec.block_of[0]
    tracker = BlockTracker(rng=None)
    assert tracker.on_arrival(block, 0) == []          # all its sources so far: not "done"
    fec.add(_pkt(1), 0.01, [0])
    repairs = fec.flush(1.0, force=True)
    assert tracker.on_arrival(block, repairs[0].seq) == [1]


def test_tracker_models_raptorq_needing_one_more_symbol_sometimes():
    fec = _sender(overhead=1.0)
    pkts = [_pkt(s) for s in range(2)]
    for p in pkts:
        fec.add(p, 0.0, [0])
    repairs = fec.flush(1.0, force=True)
    block = fec.block_of[0]
    tracker = BlockTracker(rng=random.Random(0), failure=1.0)
    assert tracker.on_arrival(block, repairs[0].seq) == []
    assert tracker.on_arrival(block, repairs[1].seq) == []       # exactly k: fails here
    assert tracker.failures == 1
    assert tracker.on_arrival(block, 1) == [0]                   # k + 1: decodes
