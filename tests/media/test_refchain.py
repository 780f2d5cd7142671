"""ReferenceChain: frame_num continuity tells a picture with a missing reference."""

from strata_roq.media.nal import AccessUnitInfo, FrameKind
from strata_roq.media.refchain import ReferenceChain


def pic(kind, fn, ref=True, max_fn=16):
    return AccessUnitInfo(kind=kind, reference=ref, frame_num=fn, max_frame_num=max_fn)


def test_dropping_non_reference_pictures_keeps_the_chain():
    chain = ReferenceChain()
    # I0 P1 (B2) P2 (B3) P3 ... with the B-frames dropped, and frame_num wrapping at 16
    seq = [pic(FrameKind.IDR, 0)] + [pic(FrameKind.P, n % 16) for n in range(1, 40)]
    assert all(chain.check(p) for p in seq)
    assert chain.damaged == 0 and chain.gaps == 0


def test_a_lost_reference_damages_everything_up_to_the_next_idr():
    chain = ReferenceChain()
    results = [chain.check(p) for p in (
        pic(FrameKind.IDR, 0), pic(FrameKind.P, 1), pic(FrameKind.B, 2, ref=False),
        # P2 lost
        pic(FrameKind.B, 3, ref=False), pic(FrameKind.P, 3), pic(FrameKind.P, 4),
        pic(FrameKind.IDR, 0), pic(FrameKind.P, 1))]
    assert results == [True, True, True, False, False, False, True, True]
    assert chain.gaps == 1 and chain.damaged == 3


def test_nothing_before_the_first_idr_counts_as_whole_and_unknown_is_not_judged():
    chain = ReferenceChain()
    assert chain.check(pic(FrameKind.P, 5)) is False
    assert chain.check(AccessUnitInfo(kind=FrameKind.P)) is None
    assert chain.check(pic(FrameKind.IDR, 0)) is True


def test_a_damaged_reference_breaks_the_chain_a_damaged_disposable_only_itself():
    chain = ReferenceChain()
    results = [chain.check(p, damaged=d) for p, d in (
        (pic(FrameKind.IDR, 0), False), (pic(FrameKind.B, 1, ref=False), True),
        (pic(FrameKind.P, 1), False), (pic(FrameKind.P, 2), True), (pic(FrameKind.P, 3), False),
        (pic(FrameKind.IDR, 0), False))]
    assert results == [True, False, True, False, False, True]
    assert chain.gaps == 0 and chain.damaged == 3
