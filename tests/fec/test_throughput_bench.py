"""benchmarks/fec_throughput.py's pipeline still runs the driver as the product does (it
broke silently once, when paths learned their QUIC window): a short run per setup, checking
the figures mean what the script prints, not how fast they are."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

_BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "fec_throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("fec_throughput", _BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("quic", [False, True], ids=["sinks", "aioquic"])
def test_pipeline_sends_media_and_repair(bench, quic):
    media, wire, both_ends = bench.pipeline("off", 600, quic)
    assert media > 0 and wire == pytest.approx(media, rel=0.01)  # FEC off: nothing extra
    media, wire, both_ends = bench.pipeline("static", 600, quic)
    assert wire > 1.1 * media                                  # repair went out too
    if quic:
        assert both_ends < media        # the receiver's share is measured apart from it
    else:
        assert both_ends == media       # sinks: no receiver


def test_the_unencoded_bound_skips_only_the_encoding(bench):
    from strata_roq.fec import raptor
    real = raptor.raptorq
    media, wire, _ = bench.pipeline("static-unencoded", 600)
    assert raptor.raptorq is real                              # put back after the run
    static_media, static_wire, _ = bench.pipeline("static", 600)
    assert wire / media == pytest.approx(static_wire / static_media, rel=0.01)  # same repair
