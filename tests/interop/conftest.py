"""Helpers for tests that run real processes (Strata's CLI, librist, ffmpeg, GStreamer) on
loopback: free ports, a paced UDP source of numbered payloads, a collector, process control."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

PAYLOAD = 1316


def payload(i: int) -> bytes:
    """Numbered, content-checked 7 × 188-byte payload (starts with a TS sync byte)."""
    return b"\x47" + i.to_bytes(4, "big") + bytes((i * 7 + k) & 0xFF for k in range(PAYLOAD - 5))


def real_ts(path, seconds: int = 4) -> list[bytes]:
    """A real H.264 MPEG-TS (ffmpeg, 640x360 30 fps) cut into 7 x 188-byte datagrams."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=640x360:rate=30", "-t", str(seconds), "-c:v", "libx264",
                    "-preset", "veryfast", "-b:v", "2M", "-g", "30", "-pix_fmt", "yuv420p",
                    "-f", "mpegts", str(path)], check=True, timeout=120)
    data = path.read_bytes()
    return [data[i:i + PAYLOAD] for i in range(0, len(data), PAYLOAD)]


_HANDED_OUT: set[int] = set()


def _free_port(even: bool = False) -> int:
    """A free UDP port, never one handed out before in this run (the kernel may offer a port
    again as soon as the probing socket closes, and two processes of a test would collide)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port in _HANDED_OUT or (even and port + 1 in _HANDED_OUT):
            continue
        _HANDED_OUT.add(port)
        if not even:
            return port
        if port % 2 == 0 and port < 65000:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s2:
                try:
                    s2.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            _HANDED_OUT.add(port + 1)
            return port


class Collector:
    """Collects datagrams on a port in a thread until ``idle`` s pass without any."""

    def __init__(self, port: int, idle: float = 3.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.idle = idle
        self.packets: list[bytes] = []
        self._started = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            try:
                self.packets.append(self.sock.recv(65536))
                last = time.monotonic()
                self._started = True
            except socket.timeout:
                if self._started and time.monotonic() - last > self.idle:
                    break
                if time.monotonic() - last > 60:
                    break
        self.sock.close()

    def wait(self, timeout: float = 60.0) -> list[bytes]:
        self._thread.join(timeout)
        return self.packets

    def indices(self) -> list[int]:
        return [int.from_bytes(p[1:5], "big") for p in self.packets]


def blast(port: int, count, interval: float = 0.001, host: str = "127.0.0.1") -> None:
    """Send ``count`` numbered payloads (or the given list of payloads), paced on an
    absolute schedule (no drift)."""
    payloads = [payload(i) for i in range(count)] if isinstance(count, int) else list(count)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        t0 = time.monotonic()
        for i, data in enumerate(payloads):
            s.sendto(data, (host, port))
            delay = t0 + (i + 1) * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)


class Proc:
    """A started process; ``ready`` waits for a line on stderr (e.g. "listening on")."""

    def __init__(self, argv: list[str], ready: str | None = None, timeout: float = 20.0) -> None:
        self.argv = argv
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True)
        self.first_line = ""
        if ready:
            seen = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                line = self.p.stderr.readline()
                if not line:
                    break
                if ready in line:
                    self.first_line = line
                    return
                seen.append(line)
            _, rest = self.stop()
            raise AssertionError(f"{argv[3:5]} did not print {ready!r} (exit "
                                 f"{self.p.returncode}): {''.join(seen) + rest}")

    def port(self) -> int:
        return int(self.first_line.split(" -> ")[0].rsplit(":", 1)[1].split()[0])

    def finish(self, timeout: float = 30.0) -> tuple[str, str]:
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            out, err = self.p.communicate()
        return out, err

    def stop(self, sig=signal.SIGINT) -> tuple[str, str]:
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, sig)
                self.p.wait(3)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                os.killpg(self.p.pid, signal.SIGKILL)
        return self.p.communicate()


def strata_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "strata_roq", *args]


def last_json(text: str, prefix: str) -> dict:
    """The JSON a Strata command prints last on stderr after ``prefix: ``."""
    for line in reversed(text.splitlines()):
        if line.startswith(prefix + ": {"):
            return json.loads(line[len(prefix) + 2:])
    raise AssertionError(f"no '{prefix}: {{...}}' line in: {text[-2000:]}")


def need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: run bash .ci/run (it installs the Debian peers)")


@pytest.fixture
def rig():
    """Everything above, and cleanup of every process a test started."""
    procs: list[Proc] = []

    class Rig:
        free_port = staticmethod(_free_port)
        payload = staticmethod(payload)
        blast = staticmethod(blast)
        Collector = Collector
        last_json = staticmethod(last_json)
        need = staticmethod(need)
        strata = staticmethod(strata_argv)
        real_ts = staticmethod(real_ts)

        @staticmethod
        def start(argv, ready=None, timeout=20.0) -> Proc:
            proc = Proc(argv, ready, timeout)
            procs.append(proc)
            return proc

    yield Rig
    for proc in procs:
        proc.stop(signal.SIGKILL)


class CpuWatch(threading.Thread):
    """Each second of a test, the processes that used the most CPU. A timing assertion that
    fails on this 2-core machine prints them: whether the test's own processes ran short of
    CPU, and what else (a leftover process, the browser) had it."""

    def __init__(self, interval: float = 1.0, top: int = 5) -> None:
        super().__init__(daemon=True)
        self.interval, self.top = interval, top
        self.samples: list[tuple[int, list[tuple[int, int, str]]]] = []
        self._halt = threading.Event()
        self._start = time.monotonic()
        self._hz = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _ticks() -> dict[int, int]:
        out = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2:].split()
            out[int(name)] = int(fields[11]) + int(fields[12])      # utime + stime
        return out

    @staticmethod
    def _command(pid: int) -> str:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            return "?"
        if not argv[0]:                     # a kernel thread: its name
            try:
                with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
                    return f"[{f.read().strip()}]"
            except OSError:
                return "?"
        words = [os.path.basename(a.decode(errors="replace")) if i == 0 else
                 a.decode(errors="replace") for i, a in enumerate(argv[:6]) if a]
        return " ".join(words)[:70]

    def run(self) -> None:
        before = self._ticks()
        while not self._halt.wait(self.interval):
            now = self._ticks()
            used = sorted(((t - before.get(pid, t), pid) for pid, t in now.items()),
                          reverse=True)[:self.top]
            percent = [(round(100 * d / self._hz / self.interval), pid, self._command(pid))
                       for d, pid in used if d > 0]
            self.samples.append((round(time.monotonic() - self._start), percent))
            before = now

    def stop(self) -> None:
        self._halt.set()
        self.join(2)

    def report(self) -> str:
        return "\n".join(f"{t:4d} s  " + "; ".join(f"{p}% {cmd} [{pid}]" for p, pid, cmd in top)
                         for t, top in self.samples)


@pytest.fixture(autouse=True)
def cpu_watch():
    watch = CpuWatch()
    watch.start()
    yield watch
    watch.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    watch = getattr(item, "funcargs", {}).get("cpu_watch")
    if report.when == "call" and report.failed and watch is not None:
        report.sections.append(("CPU per second of the test, busiest processes", watch.report()))
