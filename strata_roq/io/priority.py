"""Scheduling priority for timing-critical output.

Playout paces packets by their media timestamps; on a busy machine a process at normal
priority waits for the CPU behind everything else that is runnable, and each wait shows as
timing error in the output (as audio servers know, hence their raised priority). Lowering the
nice value needs root or CAP_SYS_NICE: without it the stream goes on at normal priority,
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
