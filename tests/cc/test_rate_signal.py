"""The encoder is told its rate on every change, every repeat, and again the moment it
appears (strata_roq.cc.rate_signal.RateTeller)."""

from __future__ import annotations

from strata_roq.cc.rate_signal import RateTeller


def test_the_encoder_is_told_again_the_moment_it_appears():
    # Told at start-up, before the encoder listened: the repeat would reach it only a
    # quarter second later, seven pictures at its own full rate into a narrow path.
    teller = RateTeller(repeat=0.25)
    assert teller.due(1_000_000, 10.0) == 1_000_000
    assert teller.due(1_000_000, 10.05) is None
    teller.retell()                                  # its first media just arrived
    assert teller.due(1_000_000, 10.06) == 1_000_000
    assert teller.due(1_000_000, 10.07) is None      # and then the repeat again
