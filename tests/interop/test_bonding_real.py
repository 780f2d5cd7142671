"""The simulator is worth trusting: the failover scenario over real sockets (netsim relays,
real RoQ connections, real encoder and probe) agrees with the simulator within 10 % on
on-time ratio and overhead; and librist's bonding runs through the same relays."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

from strata_roq.netsim.scenarios import make_scenario

pytestmark = [pytest.mark.interop, pytest.mark.slow]

_BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "bonding_real.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bonding_real", _BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_simulator_and_real_sockets_agree_on_failover():
    result = _bench().compare_with_simulator(make_scenario("failover", 20), "storm")
    real, sim = result["real"], result["sim"]
    assert real["frames"] >= 590, real
    assert result["on_time_diff"] <= 0.10, (real, sim["on_time"])
    assert result["overhead_diff"] <= 0.10, (real, sim["overhead"])
    assert real["on_time"] >= 0.99 and real["key_missing"] == 0, real
    # Wi-Fi carries everything at first and the LEO dish waits unused: kept alive, its
    # connection is there when LTE dies (it once idled out, and a key frame went with it)
    assert real["disconnects"]["wifi"] == real["disconnects"]["leo"] == 0, real


def test_librist_weighted_bonding_through_the_same_relays(rig):
    rig.need("ristsender", "ristreceiver")
    r = _bench().run_real(make_scenario("failover", 12), "librist:weighted")
    assert r["frames"] >= 350 and r["on_time"] > 0.5, r     # it runs and is measured
    assert 1.0 < r["overhead"] < 2.0, r                      # shares, does not duplicate
