"""Playout's priority: raised when allowed, left alone (with a warning) when not, never
lowered; real-time scheduling likewise. Run in child processes: a nice value cannot be taken
back once raised."""

from __future__ import annotations

import os
import subprocess
import sys

_CHILD = """
import logging, os, sys
logging.basicConfig(level=logging.WARNING)
from strata_roq.io.priority import raise_priority, raise_realtime
kind, value = sys.argv[1], int(sys.argv[2])
if len(sys.argv) > 3:
    os.setuid(65534)                 # nobody: may not raise its priority
if kind == "rt":
    print(raise_realtime(value), os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK == os.SCHED_RR)
else:
    print(raise_priority(value))
"""


def _child(*args: str) -> tuple[str, str]:
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True,
                          text=True, timeout=30, check=True)
    return done.stdout.strip(), done.stderr


def _run(*args: str) -> tuple[int, str]:
    out, err = _child("nice", *args)
    return int(out), err


def _run_rt(*args: str) -> tuple[str, str]:
    return _child("rt", *args)


def test_priority_is_raised_when_allowed():
    assert _run("-10") == (-10, "")


def test_a_lower_priority_is_never_taken():
    nice, err = _run("5")
    assert nice == os.getpriority(os.PRIO_PROCESS, 0) and err == ""


def test_without_permission_the_priority_stays_and_a_warning_says_why():
    nice, err = _run("-10", "drop")
    assert nice == os.getpriority(os.PRIO_PROCESS, 0)
    assert "cannot raise the output's priority to nice -10" in err and "CAP_SYS_NICE" in err


def test_realtime_scheduling_when_allowed_and_none_asked_for_zero():
    assert _run_rt("10") == ("10 True", "")
    assert _run_rt("0") == ("0 False", "")


def test_without_permission_realtime_is_refused_with_a_warning():
    out, err = _run_rt("10", "drop")
    assert out == "0 False"
    assert "cannot run the output with real-time scheduling (SCHED_RR 10" in err
