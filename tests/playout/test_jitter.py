"""The jitter buffer on a path with 50 ms of jitter and a sender clock 3 s ahead."""

import random

import numpy as np

from strata_roq.playout.jitter import JitterBuffer


def _simulate(duration=30.0, jitter=lambda t: 0.05, interval=0.01, seed=1, loss=0.0,
              clock_offset=3.0):
    """Packets every ``interval`` (media clock = true time + 3 s), delay 50 ms + uniform
    jitter; returns (buffer, [(seq, output time)], [(time, target delay)])."""
    rng = random.Random(seed)
    arrivals = []
    for k in range(int(duration / interval)):
        t = k * interval
        if rng.random() < loss:
            continue
        arrivals.append((t + 0.05 + rng.uniform(0, jitter(t)), k, t + clock_offset))
    arrivals.sort()
    jb = JitterBuffer()
    out, targets = [], []
    i = 0
    while i < len(arrivals) or jb.next_time() is not None:
        due = jb.next_time()
        nxt = arrivals[i][0] if i < len(arrivals) else None
        if nxt is not None and (due is None or nxt <= due):
            now, seq, media = arrivals[i]
            jb.push(seq & 0xFFFF, media, seq.to_bytes(4, "big"), now)
            i += 1
        else:
            now = due
        for data in jb.pop(now):
            out.append((int.from_bytes(data, "big"), now))
        targets.append((now, jb.target_delay))
    return jb, out, targets


def test_output_keeps_the_media_timing_after_convergence():
    jb, out, _ = _simulate(30.0)
    steady = [(s, t) for s, t in out if s * 0.01 > 5.0]     # after 5 s of convergence
    seqs = [s for s, _ in steady]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    gaps = np.diff([t for _, t in steady])
    steps = np.diff(seqs) * 0.01
    error_ms = np.abs(gaps - steps) * 1000
    assert np.percentile(error_ms, 99) < 5.0, np.percentile(error_ms, 99)
    assert seqs == list(range(501, 3000))                    # no underrun after 5 s


def test_a_sender_clock_offset_changes_nothing():
    _, out_a, _ = _simulate(10.0, seed=3, clock_offset=3.0)
    _, out_b, _ = _simulate(10.0, seed=3, clock_offset=-3.0)
    assert [s for s, _ in out_a] == [s for s, _ in out_b]
    assert np.allclose([t for _, t in out_a], [t for _, t in out_b])


def test_target_delay_follows_a_jitter_increase_within_a_second():
    _, _, targets = _simulate(25.0, jitter=lambda t: 0.05 if t < 15.0 else 0.10)
    before = [d for t, d in targets if 12.0 < t < 15.0]
    assert max(before) < 0.07
    after = [d for t, d in targets if t >= 16.05 + 0.05]      # 1 s after the change arrives
    assert min(after) > 0.085


def test_lost_packets_are_skipped_on_schedule_and_given_up():
    jb, out, _ = _simulate(10.0, loss=0.02, seed=5)
    assert jb.stats.underruns > 0 and jb.stats.late == 0
    seqs = [s for s, _ in out]
    assert seqs == sorted(seqs)
    assert len(jb.given_up()) == jb.stats.underruns and jb.given_up() == []


def test_duplicates_and_late_packets_are_counted():
    jb = JitterBuffer()
    jb.push(1, 0.0, b"a", 0.05)
    jb.push(1, 0.0, b"a", 0.051)
    assert jb.stats.duplicates == 1
    assert jb.pop(1.0) == [b"a"]
    jb.push(0, -0.01, b"z", 1.0)                            # before what already played
    assert jb.stats.late == 1
