"""Coupled (wVegas-style) control in the simulator: paths of one sender that share a
bottleneck queue and take what one flow would; on separate bottlenecks each fills its own."""

from __future__ import annotations

import pytest

from strata_roq.cc import make_controller
from strata_roq.cc.coupled import CoupledGroup, CoupledVegas
from strata_roq.netsim.ccsim import run_flows


def _pair(coupled: bool) -> list[CoupledVegas]:
    group = CoupledGroup() if coupled else None
    return [CoupledVegas(group), CoupledVegas(group)]


def test_a_coupled_pair_takes_one_flows_share_of_a_shared_bottleneck():
    # two paths of one sender and one ordinary flow through the same 12 Mbit/s link
    coupled = run_flows(_pair(True) + [CoupledVegas()], delays=[0.02] * 3, rate=12e6,
                        duration=40)
    alone = run_flows(_pair(False) + [CoupledVegas()], delays=[0.02] * 3, rate=12e6,
                      duration=40)
    pair, other = sum(coupled["throughput"][:2]), coupled["throughput"][2]
    assert 0.8 < pair / other < 1.25, coupled["throughput"]          # one flow's share
    pair, other = sum(alone["throughput"][:2]), alone["throughput"][2]
    assert pair / other > 1.6, alone["throughput"]                   # uncoupled: two shares
    assert coupled["utilisation"] > 0.9 and alone["utilisation"] > 0.9


def test_a_coupled_pair_queues_what_one_flow_would():
    one = run_flows([CoupledVegas()], delays=[0.02], rate=12e6, duration=30)
    coupled = run_flows(_pair(True), delays=[0.02, 0.03], rate=12e6, duration=30)
    alone = run_flows(_pair(False), delays=[0.02, 0.03], rate=12e6, duration=30)
    assert coupled["queue_p50_ms"] < 1.3 * one["queue_p50_ms"], (coupled, one)
    assert alone["queue_p50_ms"] > 1.6 * one["queue_p50_ms"], (alone, one)   # they fight
    assert coupled["utilisation"] > 0.9


def test_on_separate_bottlenecks_each_coupled_path_fills_its_own_link():
    r = run_flows(_pair(True), delays=[0.02, 0.04], rate=6e6, shared=False, duration=30)
    assert min(r["throughput"]) > 0.85 * 6e6, r["throughput"]
    assert r["queue_p95_ms"] < 60


def test_weights_follow_the_rates_and_the_registry_builds_one():
    group = CoupledGroup()
    a, b = CoupledVegas(group), CoupledVegas(group)
    a.pacing_rate, b.pacing_rate = 3e5, 1e5
    assert a.share() == pytest.approx(0.75) and b.share() == pytest.approx(0.25)
    assert make_controller("vegas").share() == 1.0
    assert make_controller("vegas", group=group) in group.members
