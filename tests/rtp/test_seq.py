"""Sequence-number arithmetic and unwrapping across wrap-around with reordering."""

from hypothesis import given, strategies as st

from strata_roq.rtp.seq import SeqUnwrapper, seq_diff, seq_lt
from strata_roq.rtp.ntp import (ntp_from_seconds, ntp_middle32, rtt_from_report,
                                seconds_from_ntp, seconds_to_short)


def test_seq_diff_and_lt():
    assert seq_diff(0, 65535) == 1 and seq_diff(65535, 0) == -1
    assert seq_diff(5, 5) == 0 and seq_diff(32767, 0) == 32767 and seq_diff(32768, 0) == -32768
    assert seq_lt(65530, 3) and not seq_lt(3, 65530)
    assert seq_diff(1, 0xFFFFFFFF, bits=32) == 2


def test_unwrap_across_wrap_with_reordering():
    u = SeqUnwrapper()
    got = [u.unwrap(s) - 65536 for s in (65533, 65534, 0, 65535, 1, 2, 65532)]
    assert got == [65533, 65534, 65536, 65535, 65537, 65538, 65532]
    assert u.highest == 65536 + 65538
    u2 = SeqUnwrapper()
    seqs = [i & 0xFFFF for i in range(0, 200_000, 1000)]
    assert [u2.unwrap(s) - 65536 for s in seqs] == list(range(0, 200_000, 1000))


def test_packets_sent_before_the_first_arrival_stay_below_it():
    u = SeqUnwrapper()
    first = u.unwrap(2)
    assert u.unwrap(65535) == first - 3 >= 0   # late packet sent 3 before the first arrival
    assert u.unwrap(3) == first + 1            # and the stream goes on from the first one


@given(st.integers(0, 2**40), st.lists(st.integers(-1000, 3000), min_size=1, max_size=200))
def test_unwrap_recovers_extended_numbers(start, steps):
    u = SeqUnwrapper()
    offset = u.unwrap(start) - start
    highest = start
    ext = start
    for step in steps:
        ext = max(ext + step, highest - 30000)  # stay within half a cycle of the highest
        highest = max(highest, ext)
        assert u.unwrap(ext) == ext + offset


def test_ntp_helpers():
    t = 1_700_000_000.25
    ntp = ntp_from_seconds(t)
    assert abs(seconds_from_ntp(ntp) - t) < 1e-6
    assert ntp_middle32(ntp) == (ntp >> 16) & 0xFFFFFFFF
    lsr = ntp_middle32(ntp_from_seconds(t))
    arrival = ntp_middle32(ntp_from_seconds(t + 0.150))
    assert abs(rtt_from_report(arrival, lsr, seconds_to_short(0.100)) - 0.050) < 1e-3
    assert rtt_from_report(arrival, 0, 0) is None


def test_peek_places_a_value_as_unwrap_would_without_taking_it():
    from strata_roq.rtp.seq import SeqUnwrapper

    u = SeqUnwrapper(bits=16)
    assert u.peek(5) == 5 + 65536 and u.highest is None
    u.unwrap(65530)
    assert u.peek(3) == 65536 + 65536 + 3 and u.highest == 65530 + 65536   # past the wrap
    assert u.peek(65520) == 65520 + 65536
    assert u.unwrap(3) == 65536 + 65536 + 3
