import pytest

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


def test_a_long_gap_wait_does_not_stretch_the_start_up_settling():
    # Bonded paths: a gap may be waited for up to ~480 ms, but at start-up an earlier packet
    # lags only by the paths' delay spread; settling the whole wait made frame 0 late.
    buf = ReorderBuffer(hold=0.05)
    assert not buf.started
    assert buf.push(b"b", 1, 0.0, hold=0.48, settle=0.07) == [] and buf.started
    assert buf.next_timeout() == 0.07
    assert buf.push(b"a", 0, 0.02, hold=0.46) == []           # came the slower way
    assert buf.poll(0.069) == []
    assert buf.poll(0.07) == [b"a", b"b"]
    buf2 = ReorderBuffer(hold=0.05)
    buf2.push(b"x", 5, 0.0, hold=0.03, settle=0.2)            # never longer than the hold
    assert buf2.next_timeout() == 0.03


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


def test_a_gap_that_may_still_fill_is_waited_for_up_to_the_longest_wait():
    # a frame's stream is being repaired while newer frames' streams overtake it
    repairing = {"open": True}
    buf = ReorderBuffer(hold=0.05, may_fill=lambda seq: seq == 1 and repairing["open"])
    assert buf.push(b"a", 0, -0.06) == [] and buf.poll(0.0) == [b"a"]
    assert buf.push(b"c", 2, 0.0, longest=0.3) == []      # 1 missing
    assert buf.poll(0.06) == [] and buf.waited_for_repair == 1
    assert buf.next_timeout() == pytest.approx(0.07)        # asks again shortly
    assert buf.poll(0.2) == [] and buf.waited_for_repair == 1
    assert buf.push(b"b", 1, 0.21) == [b"b", b"c"] and buf.skipped == 0
    # the next gap: the stream that would carry it is reset — released once the hold is over
    assert buf.push(b"e", 4, 0.22, longest=0.3) == []
    repairing["open"] = False
    assert buf.poll(0.271) == [b"e"] and buf.skipped == 1


def test_the_longest_wait_ends_a_gap_that_never_fills():
    buf = ReorderBuffer(hold=0.05, may_fill=lambda seq: True)
    assert buf.push(b"a", 0, -0.06) == [] and buf.poll(0.0) == [b"a"]
    assert buf.push(b"c", 2, 0.0, longest=0.1) == []
    assert buf.poll(0.09) == []
    assert buf.next_timeout() == pytest.approx(0.1)
    assert buf.poll(0.1) == [b"c"] and buf.skipped == 1


def test_without_a_longest_wait_the_hold_is_all():
    buf = ReorderBuffer(hold=0.05, may_fill=lambda seq: True)
    assert buf.push(b"a", 0, -0.06) == [] and buf.poll(0.0) == [b"a"]
    assert buf.push(b"c", 2, 0.0) == []
    assert buf.poll(0.05) == [b"c"]
