"""FEC in the simulator: repair where retransmission cannot make the deadline."""

import pytest

from strata_roq.netsim.sim import PathSpec, Scenario, simulate


def _geo_pair() -> Scenario:
    # two 560-600 ms RTT paths, 3 % loss, 500 ms budget: ARQ can never repair in time
    return Scenario("geo-pair", [PathSpec("geo1", delay=0.30, rate=8e6, loss=0.03),
                                 PathSpec("geo2", delay=0.28, rate=8e6, loss=0.03)],
                    duration=10, bitrate=4e6)


def _trio_one_dies() -> Scenario:
    return Scenario("trio", [PathSpec("a", delay=0.02, rate=5e6),
                             PathSpec("b", delay=0.03, rate=5e6, events=[(4.0, "down", None)]),
                             PathSpec("c", delay=0.025, rate=5e6)],
                    duration=10, bitrate=3e6, latency=0.15)


def test_arq_alone_cannot_save_a_long_path():
    r = simulate(_geo_pair(), "storm")
    assert r["decisions"]["arq_too_late"] > 100 and r["frame_loss"] > 0.2


@pytest.mark.parametrize("mode", ["static", "adaptive", "uep"])
def test_block_fec_rebuilds_what_arq_could_not(mode):
    off = simulate(_geo_pair(), "storm")
    r = simulate(_geo_pair(), "storm", fec=mode)
    assert r["fec"]["recovered"] > 300
    assert r["frame_loss"] < off["frame_loss"] / 3
    assert r["on_time"] > off["on_time"] + 0.2
    assert r["overhead"] < 1.5


def test_cross_path_xor_loses_nothing_when_one_path_dies():
    off = simulate(_trio_one_dies(), "storm")
    r = simulate(_trio_one_dies(), "storm", fec="xor")
    assert r["frame_loss"] == 0 and r["on_time"] == 1.0
    assert r["fec"]["recovered"] > 1000
    assert r["overhead"] < 2.0                   # below duplication's 2×
    assert off["on_time"] < 1.0                  # without it the death costs frames


def test_fec_runs_are_deterministic():
    a = simulate(_geo_pair(), "storm", fec="adaptive")
    b = simulate(_geo_pair(), "storm", fec="adaptive")
    assert a == b


def test_unknown_fec_mode_is_refused():
    with pytest.raises(ValueError, match="unknown FEC mode 'raid'"):
        simulate(_geo_pair(), "storm", fec="raid")
