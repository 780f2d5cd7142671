"""The command line: every subcommand answers --help, bad input is one line and exit 2."""

import subprocess
import sys

import pytest

from strata_roq.cli import COMMANDS, main


def run_cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "strata_roq", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_version_and_help():
    result = run_cli("--version")
    assert result.returncode == 0 and "strata-roq" in result.stdout
    result = run_cli("--help")
    assert result.returncode == 0
    for name, _, _ in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", [c[0] for c in COMMANDS])
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    assert info.value.code == 0
    assert "usage: strata-roq " + name in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["probe", "-i", "bogus://x:1", "--duration", "1"], "unknown scheme 'bogus://'"),
        (["probe", "-i", "udp://@:7000?nope=1", "--duration", "1"], "unknown parameter 'nope'"),
        (["testsrc", "-o", "udp://127.0.0.1", "--duration", "1"], "has no port"),
        (["send", "-i", "udp://@:5000", "-o", "roq://h:1,roq://h:2", "--path-metrics", "m.jsonl",
          "--watermark", "rscp=-3"], "--watermark: 'rscp=-3'"),
        (["send", "-i", "udp://@:5000", "-o", "roq://h:1", "--path-metrics", "m.jsonl"],
         "--path-metrics needs several roq:// paths"),
        (["send", "-i", "udp://@:5000", "-o", "roq://h:1,roq://h:2", "--path-metrics",
          "udp://127.0.0.1:9"], "write udp://@:PORT"),
        (["send", "-i", "udp://@:5000", "-o", "roq://h:1", "--fec", "adaptive",
          "--fec-target", "2"], "--fec-target must be between 0 and 1"),
        (["send", "-i", "udp://@:5000", "-o", "roq://h:1", "--fec", "uep",
          "--fec-table", "bframe=2"], "--fec-table: unknown FEC class 'bframe'"),
        (["send", "-i", "udp://@:5000", "-o", "rist://h:1", "--fec", "static"],
         "--fec applies to roq:// outputs"),
        (["send", "-i", "udp://@127.0.0.1:0", "-o", "roq://127.0.0.1:9", "--rate-to",
          "udp://@:7000"], "--rate-to sends"),
        (["send", "-i", "udp://@127.0.0.1:0", "-o", "roq://127.0.0.1:9", "--rate-to",
          "udp://127.0.0.1:7000", "--rate-max", "2M", "--rate-start", "3M"],
         "--rate-start 3M is above --rate-max 2M"),
        (["send", "-i", "udp://@:5000", "-o", "roq://h:1", "--api", "localhost"],
         "--api: 'localhost' is not HOST:PORT"),
        (["send", "-i", "udp://@:5000", "-o", "roq://h:1", "--tmmbr"],
         "--tmmbr answers an RTP source"),
        (["send", "-i", "udp://@:5000", "-o", "roq://h:1", "--cc", "bbr-rt"],
         "--cc paces bonded paths"),
        (["send", "-i", "udp://@:5000", "-o", "roq://h:1,roq://h:2", "--cc", "cubic"],
         "--cc: unknown 'cubic' (one of delivery, bbr-rt"),
        (["demo", "--cc", "cubic"], "--cc: unknown 'cubic'"),
        (["testsrc", "-o", "udp://127.0.0.1:9", "--rate-from", "rtcp"],
         "--rate-from rtcp reads RTCP feedback on RTP outputs"),
        (["receive", "-i", "roq://@127.0.0.1:0", "-o", "udp://127.0.0.1:9", "--playout",
          "--playout-min", "600", "--latency", "500"], "--playout-min 600 ms must be"),
        (["receive", "-i", "roq://@127.0.0.1:0", "-o", "udp://127.0.0.1:9", "--playout",
          "--playout-realtime", "120"], "--playout-realtime 120 must be between 0 (none) and 99"),
        (["receive", "-i", "roq://@127.0.0.1:0", "-o", "udp://127.0.0.1:9", "--playout",
          "--playout-repair", "-5"], "--playout-repair -5 ms must be at least 0"),
        (["testsrc", "-o", "udp://127.0.0.1:9", "--rate-from", "udp://127.0.0.1:7000"],
         "--rate-from listens"),
        (["testsrc", "-o", "udp://127.0.0.1:9", "--rate-from", "udp://@:7000", "--codec",
          "hevc"], "--rate-from re-targets the H.264 encoder"),
        (["testsrc", "-o", "udp://127.0.0.1:9", "--codec", "av1", "--bframes", "2"],
         "--bframes is for h264/hevc"),
        (["gateway", "-i", "udp://@127.0.0.1:0", "--web", "127.0.0.1:0", "--mtu", "1000"],
         "--mtu 1000 is outside 1200..65527"),
    ],
)
def test_bad_endpoint_is_one_line_and_exit_2(args, fragment):
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_a_rate_api_port_in_use_is_one_line_and_exit_2():
    import socket

    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    port = held.getsockname()[1]
    try:
        result = run_cli("send", "-i", "udp://@127.0.0.1:0", "-o", "roq://127.0.0.1:9",
                         "--insecure", "--api", f"127.0.0.1:{port}", "--duration", "1")
    finally:
        held.close()
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"--api 127.0.0.1:{port}:" in lines[0], result.stderr
