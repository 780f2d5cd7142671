"""Scheduling priority for timing-critical output.

Playout paces packets by their media timestamps; on a busy machine a process at normal
priority waits for the CPU behind everything else that is runnable, and each wait shows as
timing error in the output (as audio servers know, hence their raised priority). A lower
nice value gives the process a larger share, but a woken process still waits for the running
one's slice; real-time scheduling (``SCHED_RR``, as audio servers' data threads use) runs it
at once. The kernel keeps 5 % of every second for everyone else
(``kernel.sched_rt_runtime_us``), and children start at normal scheduling. Both need root or
CAP_SYS_NICE (real time also an RLIMIT_RTPRIO): without them the stream goes on as it is,
with one warning saying so.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def raise_priority(nice: int) -> int:
    """Set this process's nice value to ``nice`` when that is higher priority than now;
    returns the nice value in force afterwards."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice >= current:
        return current
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except PermissionError:
        log.warning("cannot raise the output's priority to nice %d (needs root or "
                    "CAP_SYS_NICE): it stays at %d, and a busy machine shows in its timing",
                    nice, current)
        return current
    return os.getpriority(os.PRIO_PROCESS, 0)


def raise_realtime(priority: int) -> int:
    """Run this process with real-time round-robin scheduling at ``priority`` (1-99; 0 asks
    for none); returns the real-time priority in force afterwards (0: none)."""
    if priority <= 0:
        return 0
    try:
        os.sched_setscheduler(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK,
                              os.sched_param(priority))
    except PermissionError:
        log.warning("cannot run the output with real-time scheduling (SCHED_RR %d; needs root, "
                    "CAP_SYS_NICE or an RLIMIT_RTPRIO of %d): a busy machine shows in its "
                    "timing", priority, priority)
        return 0
    return os.sched_getparam(0).sched_priority
