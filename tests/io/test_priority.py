"""Playout's priority: raised when allowed, left alone (with a warning) when not, never
lowered. Run in child processes: a nice value cannot be taken back once raised."""

from __future__ import annotations

import os
import subprocess
import sys

_CHILD = """
import logging, os, sys
logging.basicConfig(level=logging.WARNING)
from strata_roq.io.priority import raise_priority
if len(sys.argv) > 2:
    os.setuid(65534)                 # nobody: may not go below its nice value
print(raise_priority(int(sys.argv[1])))
"""


def _run(*args: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True,
                          text=True, timeout=30, check=True)
    return int(done.stdout), done.stderr


def test_priority_is_raised_when_allowed():
    assert _run("-10") == (-10, "")


def test_a_lower_priority_is_never_taken():
    nice, err = _run("5")
    assert nice == os.getpriority(os.PRIO_PROCESS, 0) and err == ""


def test_without_permission_the_priority_stays_and_a_warning_says_why():
    nice, err = _run("-10", "drop")
    assert nice == os.getpriority(os.PRIO_PROCESS, 0)
    assert "cannot raise the output's priority to nice -10" in err and "CAP_SYS_NICE" in err
