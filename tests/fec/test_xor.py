import itertools
import random

from hypothesis import given, strategies as st

from strata_roq.fec.xor import parity, recover


def test_every_single_loss_is_rebuilt_exactly():
    rng = random.Random(1)
    for k in range(1, 6):
        group = [rng.randbytes(rng.randint(1, 1400)) for _ in range(k)]
        p = parity(group)
        for missing in range(k):
            received = [None if i == missing else g for i, g in enumerate(group)]
            assert recover(received, p) == group[missing]


def test_two_losses_are_beyond_it():
    group = [b"a" * 10, b"b" * 20, b"c" * 30]
    for a, b in itertools.combinations(range(3), 2):
        received = [None if i in (a, b) else g for i, g in enumerate(group)]
        assert recover(received, parity(group)) is None


@given(st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=8), st.data())
def test_random_groups(group, data):
    missing = data.draw(st.integers(0, len(group) - 1))
    received = [None if i == missing else g for i, g in enumerate(group)]
    assert recover(received, parity(group)) == group[missing]


@given(st.lists(st.one_of(st.none(), st.binary(max_size=50)), max_size=5), st.binary(max_size=60))
def test_garbage_never_raises(received, junk):
    out = recover(received, junk)
    assert out is None or isinstance(out, bytes)
