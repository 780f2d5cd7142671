"""The bonding simulator: deterministic, and the failover scenario with STORM loses nothing."""

from strata_roq.netsim.scenarios import make_scenario
from strata_roq.netsim.sim import PathSpec, Scenario, Simulation, simulate


def test_same_seed_same_result():
    a = simulate(make_scenario("failover", 10), "storm")
    b = simulate(make_scenario("failover", 10), "storm")
    assert a == b


def test_failover_storm_loses_no_frame_and_readmits_the_dead_path():
    sim = Simulation(make_scenario("failover", 30), "storm")
    r = sim.run()
    assert r["on_time"] == 1.0 and r["key_on_time"] == 1.0 and r["audio_on_time"] == 1.0
    lte = next(p for p in sim.paths if p.name == "lte")
    assert lte.deaths >= 1 and lte.revivals >= 1 and lte.alive
    assert r["decisions"].get("probe", 0) > 0
    assert r["overhead"] < 1.3


def test_capacity_shortfall_is_felt_and_decompensation_keeps_key_frames():
    scenario = Scenario("tight", [PathSpec("a", delay=0.02, rate=2.5e6),
                                  PathSpec("b", delay=0.03, rate=1.0e6)],
                        duration=10, bitrate=4e6)
    storm = simulate(scenario, "storm")
    dwrr = simulate(scenario, "dwrr")
    assert storm["on_time"] < 0.99                        # 4 Mbit/s cannot fit into 3.5
    assert storm["decisions"].get("decompensate", 0) > 0
    assert storm["key_on_time"] > dwrr["key_on_time"]     # the GOP tail went, not the key frames


def test_storm_waits_out_a_leo_handover_instead_of_dropping_the_gop():
    """0.7 s outages every 15 s on the fast path: the backlog on the slow one is waited for
    (the dish comes back within the budget), not decompensated away — also while the dish
    is silent but not yet declared dead, when its packets' repairs avoid it (three outages:
    at the second and third, 18 P-frame repairs were dropped so)."""
    scenario = make_scenario("leo-handover", 47)
    storm = simulate(scenario, "storm")
    blest = simulate(scenario, "blest")
    assert storm["on_time"] >= 0.995 and storm["key_on_time"] == 1.0, storm
    assert storm["decisions"].get("decompensate", 0) == 0, storm["decisions"]
    assert storm["on_time"] >= blest["on_time"], (storm["on_time"], blest["on_time"])


def test_storm_keeps_key_frames_beside_a_lossy_satellite():
    """sat-cell: two full cellular uplinks and a 600 ms-RTT satellite whose losses cannot be
    repaired in time. Key frames overtake the queued P-frames on the cells (where a loss can
    still be repaired) instead of spilling onto the satellite, and P-frames are neither left
    to starve in a queue nor dropped as if the satellite had no room."""
    storm = simulate(make_scenario("sat-cell", 60), "storm")
    blest = simulate(make_scenario("sat-cell", 60), "blest")
    assert storm["key_on_time"] >= 0.9 and storm["key_on_time"] > blest["key_on_time"]
    assert storm["on_time"] >= 0.975, storm["on_time"]
    assert storm["decisions"].get("expired", 0) < 100, storm["decisions"]


def test_bbr_rt_pacing_shortens_the_queue_of_a_capacity_fall():
    """12 -> 4 Mbit/s on a 100 ms cellular path beside Wi-Fi: the delivery-rate model keeps
    the old rate for its two-second window and queues there; BBR-RT's controller sees the
    fall about an RTT later and caps the path while the queue shows, every frame still on
    time (measured: p95 26 -> 19 ms)."""
    scenario = make_scenario("cap-step", 30)
    delivery = simulate(scenario, "storm")
    bbr = simulate(scenario, "storm", cc="bbr-rt")
    assert delivery["cc"] == "delivery" and bbr["cc"] == "bbr-rt"
    assert bbr["on_time"] == 1.0 and bbr["decodable"] == 1.0
    assert bbr["queue_p95_ms"] < 0.8 * delivery["queue_p95_ms"], (bbr, delivery)
