"""Named bonding scenarios for the simulator and the benchmark, built from
``../shared/traces`` where a trace exists and from the README's "things no trace shows"
(LEO reconfiguration outages every 15 s, path death and return) where none does."""

from __future__ import annotations

import csv
import os

from strata_roq.errors import UsageError
from strata_roq.netsim.sim import PathSpec, Scenario
from strata_roq.netsim.trace import read_mahimahi, read_throughput_csv

DEFAULT_TRACES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "traces")


def _traces_dir() -> str:
    return os.environ.get("STRATA_TRACES", os.path.normpath(DEFAULT_TRACES))


def _ping_schedule(path: str) -> list[tuple[float, float]]:
    """(seconds from start, one-way delay) from a ``time,rtt_ms,...`` ping CSV."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            try:
                rows.append(float(r["rtt_ms"]) / 2000.0)
            except (KeyError, ValueError):
                continue
    return [(0.2 * k, d) for k, d in enumerate(rows)]   # about one sample per 200 ms


def failover(duration: float = 60.0) -> Scenario:
    return Scenario("failover", [
        PathSpec("wifi", delay=0.010, rate=6e6),
        PathSpec("lte", delay=0.030, rate=5e6,
                 events=[(duration / 3, "down", None), (2 * duration / 3, "up", None)]),
        PathSpec("leo", delay=0.025, rate=8e6, events=[(duration / 2, "loss", 0.20)]),
    ], duration=duration, bitrate=4e6,
        description="3 paths; LTE dies at 1/3 and returns at 2/3; LEO degrades to 20 % loss at 1/2")


def leo_handover(duration: float = 60.0) -> Scenario:
    events = []
    t = 15.0
    while t < duration:
        events += [(t - 0.3, "down", None), (t + 0.4, "up", None)]
        t += 15.0
    return Scenario("leo-handover", [
        PathSpec("leo", delay=0.025, rate=20e6, events=events),
        PathSpec("lte", delay=0.035, rate=5e6, loss=0.01, burst=3),
    ], duration=duration, bitrate=6e6,
        description="Starlink-like 20 Mbit/s with 0.7 s outages every 15 s + lossy 5 Mbit/s LTE")


def lte_trio(duration: float = 60.0) -> Scenario:
    d = os.path.join(_traces_dir(), "mahimahi")
    return Scenario("lte-trio", [
        PathSpec("att", delay=0.040, trace=read_mahimahi(f"{d}/ATT-LTE-driving-2016.up")),
        PathSpec("verizon", delay=0.035, trace=read_mahimahi(f"{d}/Verizon-LTE-short.up")),
        PathSpec("tmobile", delay=0.030, trace=read_mahimahi(f"{d}/TMobile-LTE-short.up")),
    ], duration=duration, bitrate=6e6,
        description="three cellular uplinks from mahimahi traces (1.9 / 6.0 / 13.3 Mbit/s mean)")


def starlink_att_verizon(duration: float = 60.0) -> Scenario:
    d = os.path.join(_traces_dir(), "starlink-concurrent")
    return Scenario("starlink-att-verizon", [
        PathSpec("starlink", trace=read_throughput_csv(f"{d}/starlink_tcp_uplink_120235156.csv"),
                 delay_schedule=_ping_schedule(f"{d}/starlink_ping_120444111.csv")),
        PathSpec("att", trace=read_throughput_csv(f"{d}/att_tcp_uplink_120233359.csv"),
                 delay_schedule=_ping_schedule(f"{d}/att_ping_120442678.csv")),
        PathSpec("verizon", trace=read_throughput_csv(f"{d}/verizon_tcp_uplink_120230000.csv"),
                 delay_schedule=_ping_schedule(f"{d}/verizon_ping_120435797.csv")),
    ], duration=duration, bitrate=8e6,
        description="the concurrent Starlink/AT&T/Verizon drive: uplink throughput and ping series")


def sat_cell(duration: float = 60.0, loss: float = 0.02, burst: float = 3.0) -> Scenario:
    """FEC's case: the stream needs a 600 ms-RTT satellite path next to two cellular ones
    (a 500 ms budget leaves no time to repair the satellite's losses by retransmission);
    every path loses packets in Gilbert-Elliott bursts."""
    return Scenario(f"sat-cell-{loss:g}-{burst:g}", [
        PathSpec("cell1", delay=0.020, rate=3e6, loss=loss, burst=burst),
        PathSpec("cell2", delay=0.030, rate=3e6, loss=loss, burst=burst),
        PathSpec("sat", delay=0.300, rate=8e6, loss=loss, burst=burst),
    ], duration=duration, bitrate=6e6,
        description=f"two 3 Mbit/s cellular paths + a 600 ms-RTT 8 Mbit/s satellite, "
                    f"{loss:.0%} loss in bursts of {burst:g}")


def ge_trio(duration: float = 60.0, loss: float = 0.02, burst: float = 3.0) -> Scenario:
    """Three cellular paths (25/35/50 ms one way, 4 Mbit/s each) losing packets in
    Gilbert-Elliott bursts, an interactive 150 ms budget (one retransmission at best)."""
    return Scenario(f"ge-trio-{loss:g}-{burst:g}", [
        PathSpec("a", delay=0.025, rate=4e6, loss=loss, burst=burst),
        PathSpec("b", delay=0.035, rate=4e6, loss=loss, burst=burst),
        PathSpec("c", delay=0.050, rate=4e6, loss=loss, burst=burst),
    ], duration=duration, bitrate=4e6, latency=0.15,
        description=f"three 4 Mbit/s cellular paths, {loss:.0%} loss in bursts of {burst:g}, "
                    f"150 ms budget")


def cap_step(duration: float = 30.0) -> Scenario:
    """Congestion control's case: a 100 ms-RTT cellular path whose capacity falls from 12 to
    4 Mbit/s for the middle third of the run (a handover to a loaded cell) beside a 6 Mbit/s
    Wi-Fi."""
    from strata_roq.netsim.synthetic import trace_from_rates

    third = duration / 3
    return Scenario("cap-step", [
        PathSpec("cell", delay=0.050,
                 trace=trace_from_rates([(0, 12e6), (third, 4e6), (2 * third, 12e6)], duration)),
        PathSpec("wifi", delay=0.010, rate=6e6),
    ], duration=duration, bitrate=8e6,
        description="12 -> 4 -> 12 Mbit/s on a 100 ms cellular path beside 6 Mbit/s Wi-Fi")


SCENARIOS = {"failover": failover, "leo-handover": leo_handover, "lte-trio": lte_trio,
             "starlink-att-verizon": starlink_att_verizon, "sat-cell": sat_cell,
             "cap-step": cap_step}


def make_scenario(name: str, duration: float = 60.0) -> Scenario:
    if name not in SCENARIOS:
        raise UsageError(f"unknown scenario {name!r} (one of {', '.join(SCENARIOS)})")
    return SCENARIOS[name](duration)
