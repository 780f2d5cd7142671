from strata_roq.commands.liveview import render


def test_render_shows_paths_ratio_and_latency():
    send = {"decisions": {"dispatch": 10, "duplicate": 2, "discard": 0}, "cc": "bbr-rt",
            "paths": [{"name": "lte", "alive": True, "srtt_ms": 61.2, "rate_mbps": 3.5,
                       "pacing_mbps": 2.25,
                       "loss": 0.012, "sent": 900, "sole_copies": 880, "deaths": 0},
                      {"name": "wifi", "alive": False, "srtt_ms": None, "rate_mbps": 0,
                       "loss": 0.0, "sent": 10, "sole_copies": 10, "deaths": 1},
                      {"name": "leo", "alive": True, "weak_signal": True, "srtt_ms": 50,
                       "rate_mbps": 1, "loss": 0, "sent": 5, "sole_copies": 0, "deaths": 0}]}
    probe = {"video": {"frames": 95, "missing_frames": 1},
             "latency_ms": {"p50": 180.4, "p99": 420.0}, "within_ms": {"500": 95}}
    lines = render(3.2, 110, 100, send, probe, 500)
    text = "\n".join(lines)
    assert "95.0%" in lines[0] and "p50 180 ms" in lines[0] and "missing 1" in lines[0]
    assert "lte" in text and "61" in text and "1.2%" in text
    assert "pace" in lines[1] and "2.25" in lines[2]          # what the sender gives the path
    assert "pacing: bbr-rt" in lines[-1]
    assert "DOWN" in lines[3] and "weak" in lines[4]
    assert "dispatch 10" in lines[-1] and "discard" not in lines[-1]


def test_render_before_anything_arrived():
    lines = render(0.0, 0, 0, None, None, 500)
    assert len(lines) == 2 and "-" in lines[0]
