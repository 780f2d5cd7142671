from strata_roq.rtp.reorder import ReorderBuffer


def test_reorders_and_gives_up_on_gaps():
    buf = ReorderBuffer(hold=0.05)
    assert buf.push(b"a", 65534, 0.0) == [b"a"]
    assert buf.push(b"c", 0, 0.001) == []                # 65535 missing: hold
    assert buf.push(b"b", 65535, 0.002) == [b"b", b"c"]  # gap filled across the wrap
    assert buf.push(b"e", 2, 0.003) == []                # 1 missing
    assert buf.poll(0.04) == []
    assert buf.poll(0.06) == [b"e"] and buf.skipped == 1
    assert buf.push(b"d", 1, 0.07) == [] and buf.late == 1
    assert buf.push(b"e", 2, 0.07) == [] and buf.reordered == 2
    assert buf.push(b"f", 3, 0.08) == [b"f"]
    assert buf.next_timeout() is None
