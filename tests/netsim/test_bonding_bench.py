"""benchmarks/bonding.py over several seeds: late frames are counted and summed, since the
mean on-time ratio, printed to 0.01 %, cannot tell 1 late frame in 43,200 from 2."""

from __future__ import annotations


def _run(late: int) -> dict:
    frames = 3600
    return {"scenario": "s", "scheduler": "storm", "cc": "delivery", "frames": frames,
            "on_time": (frames - late) / frames, "key_on_time": 1.0, "decodable": 1.0,
            "latency_p50_ms": 40.0, "latency_p99_ms": 100.0, "queue_p95_ms": 20.0,
            "overhead": 1.0, "stalls": 0}


def test_late_frames_are_summed_over_the_seeds(load_benchmark):
    bench = load_benchmark("bonding")
    one, two = bench._mean([_run(0)] * 11 + [_run(1)]), bench._mean([_run(1)] * 2 + [_run(0)] * 10)
    assert f"{one['on_time']:.2%}" == f"{two['on_time']:.2%}" == "100.00%"   # cannot tell
    assert (one["late"], two["late"]) == (1, 2)
