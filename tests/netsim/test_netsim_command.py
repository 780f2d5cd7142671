"""The netsim command's options become the links it relays through."""

import argparse

import pytest

from strata_roq.commands import netsim
from strata_roq.errors import UsageError


def _args(*argv):
    p = argparse.ArgumentParser()
    netsim.add_arguments(p)
    return p.parse_args(["--listen", "127.0.0.1:0", "--to", "127.0.0.1:9", *argv])


def test_delay_schedule_drives_both_directions(tmp_path):
    f = tmp_path / "ping.txt"
    f.write_text("# seconds delay_ms\n0 20\n5 80\n")
    forward, backward = netsim.build_links(_args("--delay-schedule", str(f)))
    assert forward.delay_schedule == [(0.0, 0.02), (5.0, 0.08)]
    assert backward.delay_schedule == forward.delay_schedule


@pytest.mark.parametrize("text, fragment", [("0 20\nfive 30\n", ":2: expected"), ("", "no entries")])
def test_bad_delay_schedule_is_a_usage_error(tmp_path, text, fragment):
    f = tmp_path / "ping.txt"
    f.write_text(text)
    with pytest.raises(UsageError, match=fragment):
        netsim.build_links(_args("--delay-schedule", str(f)))


def test_missing_delay_schedule_file():
    with pytest.raises(UsageError, match="--delay-schedule"):
        netsim.build_links(_args("--delay-schedule", "/nonexistent/ping.txt"))


def test_outages_and_loss_steps_become_events():
    events = netsim.parse_schedule(_args("--outage", "4:3", "--loss-at", "6:20%"))
    assert events == [(4.0, "down", None), (6.0, "loss", 0.2), (7.0, "up", None)]


def test_an_epoch_gives_relays_started_apart_one_schedule():
    events = netsim.parse_schedule(_args("--outage", "5:0.6"))
    # a relay started 0.8 s after the epoch goes dark 4.2 s later, like one started on it
    assert netsim.event_delays(events, 1000.0, 1000.8) == [
        (pytest.approx(4.2), "down", None), (pytest.approx(4.8), "up", None)]
    assert netsim.event_delays(events, None, 1000.8) == events      # default: from the start
    # what is already past is due at once (and kept in order)
    assert netsim.event_delays(events, 1000.0, 1005.3) == [
        (0.0, "down", None), (pytest.approx(0.3), "up", None)]


def test_an_epoch_in_milliseconds_is_a_usage_error():
    with pytest.raises(UsageError, match="--epoch"):
        netsim.run(_args("--epoch", "1764800000000"))
