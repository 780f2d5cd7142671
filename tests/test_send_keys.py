"""send's key-frame requests: one per lost reference, none while the encoder's answer is on
its way, none into an outage, and a new one at once when the answer itself is lost."""

from __future__ import annotations

from types import SimpleNamespace

from strata_roq.commands.send import KEY_REQUEST_INTERVAL, _KeyRequests
from strata_roq.media.frames import MediaFrame
from strata_roq.media.nal import FrameKind


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _RateOut:
    def __init__(self) -> None:
        self.key_requests = 0

    def tell(self, rate: int, key_frame: bool = False) -> None:
        self.key_requests += key_frame


def _frame(index: int, kind: FrameKind = FrameKind.P):
    return MediaFrame(index, kind, 0x100, "h264", 0.0, 0.0, 0.5)


def _keys(reachable=None):
    clock, out = _Clock(), _RateOut()
    keys = _KeyRequests(SimpleNamespace(rate_bps=2e6, instant_bps=2e6), out, None, None,
                        clock.now, reachable=reachable, clock=clock)
    keys.frame_sent(_frame(0, FrameKind.IDR))
    return keys, out, clock


def test_one_request_per_burst_of_losses_until_the_key_frame_goes_out():
    keys, out, clock = _keys()
    for i in range(10, 15):                   # a burst: each lost picture reports
        keys.frame_sent(_frame(i))
        keys.reference_lost(i)
        clock.now += 0.01
    assert out.key_requests == 1 and keys.lost == 5
    keys.frame_sent(_frame(16, FrameKind.IDR))
    keys.reference_lost(15)                   # older than the new key frame: it serves
    assert out.key_requests == 1


def test_a_lost_answer_brings_a_new_request_at_once():
    keys, out, clock = _keys()
    keys.reference_lost(10)
    clock.now += 0.04
    keys.frame_sent(_frame(12, FrameKind.IDR))   # the answer...
    clock.now += 0.05
    keys.reference_lost(12)                      # ...lost too, well within the interval
    assert clock.now - 100.0 < KEY_REQUEST_INTERVAL
    assert out.key_requests == 2


def test_an_unanswered_request_is_repeated_after_the_interval():
    keys, out, clock = _keys()
    keys.reference_lost(10)
    clock.now += KEY_REQUEST_INTERVAL / 2
    keys.reference_lost(11)
    assert out.key_requests == 1
    clock.now += KEY_REQUEST_INTERVAL
    keys.reference_lost(12)                   # the encoder never answered (request lost?)
    assert out.key_requests == 2


def test_a_request_waits_while_no_path_can_carry_the_key_frame():
    up = [False]
    keys, out, clock = _keys(reachable=lambda: up[0])
    keys.reference_lost(10)
    keys.poll()
    assert out.key_requests == 0 and keys.pending
    clock.now += 0.5
    up[0] = True
    keys.poll()
    assert out.key_requests == 1 and not keys.pending
