"""Per-path congestion control (how much media each path is given), the encoder rate
signal, and the controllers' registry."""

from __future__ import annotations

from strata_roq.cc.base import RateController


def make_controller(name: str, **options) -> RateController:
    from strata_roq.cc.bbr_rt import BbrController
    from strata_roq.cc.coupled import CoupledVegas
    from strata_roq.cc.gradient import GradientController

    if name == "bbr-rt":
        return BbrController(**options)
    if name == "bbr-like":
        return BbrController(headroom=None, **options)
    if name == "gradient":
        return GradientController(**options)
    if name == "vegas":           # one path on its own; with group=CoupledGroup(): coupled
        return CoupledVegas(**options)
    raise ValueError(f"unknown congestion controller {name!r} (one of {', '.join(CONTROLLERS)})")


CONTROLLERS = ("bbr-rt", "bbr-like", "gradient", "vegas")
#: What a bonded sender's paths can be paced by: ``delivery`` (the default) is the paths' own
#: delivery-rate model alone; any controller caps it (``vegas`` couples the paths).
BONDED_CC = ("delivery",) + CONTROLLERS


def check_bonded_cc(name: str) -> None:
    """A usage error naming the choices unless ``name`` is one of :data:`BONDED_CC`."""
    if name not in BONDED_CC:
        from strata_roq.errors import UsageError

        raise UsageError(f"--cc: unknown {name!r} (one of {', '.join(BONDED_CC)})")
