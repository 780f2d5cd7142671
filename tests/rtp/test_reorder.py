from strata_roq.rtp.reorder import ReorderBuffer


def test_reorders_and_gives_up_on_gaps():
    buf = ReorderBuffer(hold=0.05)
    assert buf.push(b"a", 65534, -0.06) == []            # start-up: settles one hold time
    assert buf.poll(0.0) == [b"a"]
    assert buf.push(b"c", 0, 0.001) == []                # 65535 missing: hold
    assert buf.push(b"b", 65535, 0.002) == [b"b", b"c"]  # gap filled across the wrap
    assert buf.push(b"e", 2, 0.003) == []                # 1 missing
    assert buf.poll(0.04) == []
    assert buf.poll(0.06) == [b"e"] and buf.skipped == 1
    assert buf.push(b"d", 1, 0.07) == [] and buf.late == 1
    assert buf.push(b"e", 2, 0.07) == [] and buf.reordered == 2
    assert buf.push(b"f", 3, 0.08) == [b"f"]
    assert buf.next_timeout() is None


def test_an_earlier_packet_arriving_while_settling_becomes_the_start():
    # hybrid RoQ: the key frame's stream overtaken by the PSI's, or by a P-frame datagram
    buf = ReorderBuffer(hold=0.05)
    assert buf.push(b"key", 2, 0.0) == []
    assert buf.next_timeout() == 0.05
    assert buf.push(b"pat", 0, 0.004) == []
    assert buf.push(b"pmt", 1, 0.005) == [] and buf.late == 0
    assert buf.poll(0.049) == []
    assert buf.poll(0.05) == [b"pat", b"pmt", b"key"]
    assert buf.push(b"p", 3, 0.06) == [b"p"]             # then packets flow at once


def test_restart_settles_again():
    buf = ReorderBuffer(hold=0.02)
    buf.push(b"a", 10, 0.0)
    assert buf.poll(0.03) == [b"a"]
    assert buf.restart() == []
    assert buf.push(b"x", 500, 1.0) == []
    assert buf.push(b"w", 499, 1.01) == [] and buf.late == 0
    assert buf.poll(1.02) == [b"w", b"x"]


def test_next_timeout_is_when_the_first_held_packet_may_go():
    """Bonded paths: a later packet (slow path, little time left) may be due before the
    first one held behind the gap — but it waits for that one, so the timer must too (an
    earlier wake-up would find nothing to release, and spin)."""
    buf = ReorderBuffer(hold=0.05)
    buf.push(b"a", 10, -0.1)
    assert buf.poll(0.0) == [b"a"]
    buf.push(b"c", 12, 0.0, hold=0.30)        # 11 missing: c may wait 300 ms
    buf.push(b"e", 14, 0.1, hold=0.05)        # e has only 50 ms: due at 0.15
    assert buf.next_timeout() == 0.30
    assert buf.poll(0.15) == []               # nothing can go before c's wait ends
    assert buf.poll(0.30) == [b"c", b"e"]      # e's own wait was over long ago
    assert buf.next_timeout() is None
