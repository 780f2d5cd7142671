"""Multipath schedulers, one module each, behind one interface (:mod:`.base`)."""

from __future__ import annotations

from strata_roq.sched.base import Decision, SchedPacket, Scheduler
from strata_roq.sched.blest import BlestScheduler
from strata_roq.sched.dwrr import DwrrScheduler
from strata_roq.sched.dynamic import DynamicScheduler
from strata_roq.sched.ldmp import LdmpScheduler
from strata_roq.sched.minrtt import MinRttScheduler
from strata_roq.sched.redundant import RedundantScheduler
from strata_roq.sched.storm import StormScheduler

SCHEDULERS: dict[str, type[Scheduler]] = {
    cls.name: cls for cls in (StormScheduler, DwrrScheduler, MinRttScheduler, BlestScheduler,
                              LdmpScheduler, RedundantScheduler, DynamicScheduler)
}


def make_scheduler(name: str, **options) -> Scheduler:
    from strata_roq.errors import UsageError

    if name not in SCHEDULERS:
        raise UsageError(f"unknown scheduler {name!r} (one of {', '.join(SCHEDULERS)})")
    cls = SCHEDULERS[name]
    if name == "storm":
        return cls(**options)
    return cls()


__all__ = ["SCHEDULERS", "make_scheduler", "Scheduler", "SchedPacket", "Decision"]
