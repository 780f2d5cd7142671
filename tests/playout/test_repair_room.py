"""The jitter buffer's room for repairs: when a queue builds, the output slows (frames held at
most 1 + stretch of their interval) so a packet lost in the queue and resent still plays."""

from strata_roq.playout.jitter import JitterBuffer

FPS, PER_FRAME, FRAMES = 30, 8, 150
CUSHION = 0.3


def _queue(t: float) -> float:
    """A capacity fall at 1 s: the queue fills to 200 ms in 150 ms, then drains over 2 s."""
    if t < 1.0:
        return 0.0
    if t < 1.15:
        return (t - 1.0) / 0.15 * 0.2
    return max(0.0, 0.2 * (1 - (t - 1.15) / 2.0))


def _run(repair, lost=(), queue=_queue, jitter=None, stretch=0.75, ceiling=None):
    """Frames of PER_FRAME packets through the queue; a packet in ``lost`` is resent and
    arrives a detection time (30 ms) after another trip through the queue. The caller pops
    only when :meth:`next_time` says, sleeping between, like ``receive --playout``.
    Returns (buffer, {frame: time its last packet left}, [(time, target delay)])."""
    arrivals = []
    for seq in range(FRAMES * PER_FRAME):
        f, k = divmod(seq, PER_FRAME)
        t = f / FPS + k * 0.003
        d = 0.015 + queue(t) + (jitter(seq) if jitter else 0.0)
        at = t + (2 * d + 0.03 if seq in lost else d)
        arrivals.append((at, seq, 100.0 + f / FPS))     # the media clock is 100 s ahead
    arrivals.sort()
    jb = JitterBuffer(minimum=CUSHION, repair=repair, stretch=stretch, ceiling=ceiling)
    out, offsets, i = {}, [], 0
    while i < len(arrivals) or jb.next_time() is not None:
        due = jb.next_time()
        if i < len(arrivals) and (due is None or arrivals[i][0] <= due):
            now, seq, media = arrivals[i]
            jb.push(seq & 0xFFFF, media, seq.to_bytes(4, "big"), now)
            i += 1
            continue                              # a push wakes nobody unless due earlier
        now = due
        for data in jb.pop(now):
            out[int.from_bytes(data, "big") // PER_FRAME] = now
        offsets.append((now, jb.target_delay))
    return jb, out, offsets


def _longest_added_ms(out: dict) -> float:
    frames = sorted(out.items())
    return max((b_t - a_t - (b - a) / FPS) * 1000 for (a, a_t), (b, b_t) in zip(frames, frames[1:]))


LOST = {36 * PER_FRAME + 3}          # a packet of the frame sent 200 ms after the fall


def test_without_room_the_resend_misses_its_turn_and_the_output_freezes():
    jb, out, _ = _run(None, LOST)
    assert jb.stats.underruns == 1
    assert _longest_added_ms(out) > 100         # and the late resend still lifted P at once


def test_a_building_queue_slows_the_output_and_the_resend_plays():
    jb, out, offsets = _run(0.06, LOST)
    assert jb.stats.underruns == 0 and jb.stats.late == 0, jb.stats
    assert len(out) == FRAMES
    # slowed, never frozen: each frame held at most 1.75 of its interval (+ rounding)
    assert _longest_added_ms(out) <= 0.75 * 1000 / FPS + 1.0
    assert jb.stats.stretched_ms > 100
    assert max(o for _, o in offsets) > CUSHION + 0.1


def test_a_faster_stretch_holds_frames_longer():
    _, out, _ = _run(0.06, LOST, stretch=0.5)
    assert _longest_added_ms(out) <= 0.5 * 1000 / FPS + 1.0


def test_a_calm_path_keeps_just_its_cushion():
    jb, out, offsets = _run(0.06, queue=lambda t: 0.0, jitter=lambda seq: (seq * 7919 % 50) / 1000)
    assert jb.stats.stretched_ms == 0 and jb.stats.underruns == 0
    assert max(o for _, o in offsets) < CUSHION + 0.01


def test_a_resent_packet_is_not_counted_as_the_path_slowing():
    """Only packets that come in order measure the queue: a resend's lateness counted again
    would raise the room on itself."""
    jb, _, offsets = _run(0.06, lost={40 * PER_FRAME + 1}, queue=lambda t: 0.0)
    assert jb.stats.stretched_ms == 0
    assert max(o for _, o in offsets) < CUSHION + 0.01


def test_the_room_stays_under_the_ceiling():
    """The room never passes the latency budget: here only 50 ms over the cushion, too
    little for the resend, which then misses its turn like without room."""
    jb, _, _ = _run(0.06, LOST, ceiling=0.35)
    assert 0 < jb.stats.stretched_ms <= 50 + 1e-6
    assert jb.stats.underruns == 1
