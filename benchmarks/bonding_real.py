"""Bonding on real sockets: a simulator scenario replayed through `strata-roq netsim` relays,
one per path, carrying Strata's bonded RoQ, librist's bonding (`ristsender` with several
outputs, weighted or `weight=0` duplication) or GStreamer's `ristsink` bonding (broadcast,
round-robin) — all judged by the same probe.

Per run: on-time ratio (video frames the probe saw within the budget / frames sent), key
frames missing, latency p50/p99, freezes, and overhead (bytes the sender offered to the
relays / media bytes from the source). librist and GStreamer hold every packet for a fixed
receive buffer, so theirs is set to the budget minus the slowest path's delay and 50 ms.
Every relay counts its outages, loss steps, trace and delay schedule from one moment
(`netsim --epoch`), the one the source starts at — the simulator's time zero — so the paths
replay the simulator's history together, whatever the set-up takes (relays started one
after another used to each count from their own start, seconds before the media).

    .venv/bin/python benchmarks/bonding_real.py [--scenario failover] [--duration 30]
        [--systems strata:storm,strata:dwrr,strata:minrtt,librist:weighted,librist:dup,gst:broadcast,gst:round-robin]
        [--compare-sim]

A Strata system may name the path pacing too: ``strata:storm+bbr-rt`` (``send --cc``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from strata_roq.netsim.scenarios import make_scenario  # noqa: E402
from strata_roq.netsim.sim import PathSpec, Scenario, simulate  # noqa: E402

PY = [sys.executable, "-m", "strata_roq"]
SYSTEMS = ["strata:storm", "strata:dwrr", "strata:minrtt", "librist:weighted", "librist:dup",
           "gst:broadcast", "gst:round-robin"]


def free_port(even: bool = False) -> int:
    """A free UDP port (and, with ``even``, an even one whose odd neighbour is free too)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not even:
            return port
        if port % 2 == 0 and port < 65535:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                pass


def netsim_args(spec: PathSpec, work: str, rtcp: bool = False) -> list[str]:
    """The relay options that reproduce a simulator path (``rtcp``: the companion relay
    for a Simple-Profile RTCP port — same delay, loss and outages, no bottleneck)."""
    args = ["--delay", f"{spec.delay * 1000:g}ms", "--queue", f"{spec.queue * 1000:g}ms"]
    if spec.jitter:
        args += ["--jitter", f"{spec.jitter * 1000:g}ms"]
    if spec.loss:
        args += ["--loss", f"{spec.loss:.4%}"]
        if spec.burst:
            args += ["--burst", f"{spec.burst:g}"]
    if not rtcp:
        if spec.rate:
            args += ["--rate", str(int(spec.rate))]
        if spec.trace is not None:
            path = os.path.join(work, f"{spec.name}.up")
            with open(path, "w", encoding="ascii") as f:
                f.write("\n".join(str(t) for t in spec.trace.offsets_ms) + "\n")
            args += ["--trace", path]
    if spec.delay_schedule:
        path = os.path.join(work, f"{spec.name}.delay")
        with open(path, "w", encoding="ascii") as f:
            f.write("".join(f"{t:g} {d * 1000:g}\n" for t, d in spec.delay_schedule))
        args += ["--delay-schedule", path]
    down = None
    for when, kind, value in sorted(spec.events, key=lambda e: e[0]):
        if kind == "down":
            down = when
        elif kind == "up" and down is not None:
            args += ["--outage", f"{down:g}:{when - down:g}"]
            down = None
        elif kind == "loss":
            args += ["--loss-at", f"{when:g}:{value:.2%}"]
    if down is not None:
        args += ["--outage", f"{down:g}:1000000"]
    return args


class Proc:
    def __init__(self, argv: list[str], work: str, name: str, stdout: bool = False) -> None:
        self.name = name
        self.err_path = os.path.join(work, f"{name}.err")
        self.err = open(self.err_path, "w")  # noqa: SIM115
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
                                  stderr=self.err, text=True)

    def text(self) -> str:
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_for(self, marker: str, timeout: float = 30.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in self.text().splitlines():
                if marker in line:
                    return line
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start: {self.text()[-500:]}")

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def last_json(self, prefix: str) -> dict:
        for line in reversed(self.text().splitlines()):
            if line.startswith(prefix + ": {"):
                return json.loads(line[len(prefix) + 2:])
        return {}


#: Seconds from choosing the relays' epoch to starting the source: the set-up (probe,
#: receiver, relays, sender, its connections) must fit in it (``setup_s`` in the results:
#: 2-3.5 s). (It once took ~7 s on the drive: relays held every packet until the epoch,
#: the QUIC handshakes among them, and the sender's paths connected only on a redial.)
SETUP_LEAD = 6.0


def run_real(scenario: Scenario, system: str, size: str = "640x360") -> dict:
    """One scenario over real sockets with one bonding system; returns the measures."""
    kind, _, variant = system.partition(":")
    epoch = time.time() + SETUP_LEAD           # the simulator's t = 0: the source starts
    work = tempfile.mkdtemp(prefix="strata-bond-")
    budget_ms = int(scenario.latency * 1000)
    procs: list[Proc] = []
    try:
        out_port, media_port = free_port(), free_port()
        probe = Proc([*PY, "probe", "-i", f"udp://@127.0.0.1:{out_port}", "--json", "--idle", "4",
                      "--duration", str(scenario.duration + 60), "-q"], work, "probe", stdout=True)
        procs.append(probe)
        slowest = max((s.delay_schedule and max(d for _, d in s.delay_schedule)) or s.delay
                      for s in scenario.paths)
        rist_buffer = max(100, int(budget_ms - slowest * 1000 - 50))
        relays: list[Proc] = []

        def relay(spec, to_port, listen_port=0, rtcp=False):
            r = Proc([*PY, "netsim", "--listen", f"127.0.0.1:{listen_port}", "--to",
                      f"127.0.0.1:{to_port}", "--seed", str(scenario.seed + len(relays)),
                      "--epoch", f"{epoch:.3f}", *netsim_args(spec, work, rtcp)],
                     work, f"relay{len(relays)}")
            line = r.wait_for("relaying")
            relays.append(r)
            procs.append(r)
            return int(line.split(" -> ")[0].rsplit(":", 1)[1])

        if kind == "strata":
            rx_port = free_port()
            rx = Proc([*PY, "receive", "-i", f"roq://@127.0.0.1:{rx_port}", "-o",
                       f"udp://127.0.0.1:{out_port}", "--latency", str(budget_ms)], work, "rx")
            procs.append(rx)
            rx.wait_for("listening on")
            urls = [f"roq://127.0.0.1:{relay(s, rx_port)}?name={s.name}" for s in scenario.paths]
            scheduler, _, cc = variant.partition("+")     # e.g. strata:storm+bbr-rt
            tx = Proc([*PY, "send", "-i", f"udp://@127.0.0.1:{media_port}", "-o", ",".join(urls),
                       "--insecure", "--latency", str(budget_ms), "--scheduler", scheduler,
                       "--cc", cc or "delivery"], work, "tx")
            procs.append(tx)
            tx.wait_for("send:")
        elif kind == "librist":
            rx_ports = [free_port() for _ in scenario.paths]
            rx = Proc(["ristreceiver", "-p", "1", "-S", "0", "-i", ",".join(
                f"rist://@127.0.0.1:{p}?buffer={rist_buffer}" for p in rx_ports),
                "-o", f"udp://127.0.0.1:{out_port}"], work, "rx")
            procs.append(rx)
            time.sleep(0.5)
            urls = []
            for spec, p in zip(scenario.paths, rx_ports):
                weight = 0 if variant == "dup" else max(1, round(_mean_rate(spec) / 1e6))
                urls.append(f"rist://127.0.0.1:{relay(spec, p)}?buffer={rist_buffer}"
                            f"&weight={weight}")
            tx = Proc(["ristsender", "-p", "1", "-S", "0", "-i", f"udp://@127.0.0.1:{media_port}",
                       "-o", ",".join(urls)], work, "tx")
            procs.append(tx)
            time.sleep(1.0)
        elif kind == "gst":
            rx_ports = [free_port(even=True) for _ in scenario.paths]
            rx = Proc(["ristreceiver", "-p", "0", "-S", "0", "-i", ",".join(
                f"rist://@127.0.0.1:{p}?buffer={rist_buffer}" for p in rx_ports),
                "-o", f"udp://127.0.0.1:{out_port}"], work, "rx")
            procs.append(rx)
            time.sleep(0.5)
            addrs = []
            for spec, p in zip(scenario.paths, rx_ports):
                rtp = free_port(even=True)
                relay(spec, p, rtp)
                relay(spec, p + 1, rtp + 1, rtcp=True)
                addrs.append(f"127.0.0.1:{rtp}")
            tx = Proc(["gst-launch-1.0", "-q", "udpsrc", f"port={media_port}",
                       "caps=video/mpegts,systemstream=true,packetsize=188", "!", "rtpmp2tpay",
                       "!", "ristsink", f"bonding-addresses={','.join(addrs)}",
                       f"bonding-method={variant}", f"sender-buffer={rist_buffer + 200}"],
                      work, "tx")
            procs.append(tx)
            time.sleep(1.5)
        else:
            raise ValueError(f"unknown system {system!r}")
        late = time.time() - epoch
        if late > 0.2:
            print(f"bonding_real: set-up took {SETUP_LEAD + late:.1f} s, {late:.1f} s past the "
                  "relays' epoch: the paths' events come that much early", file=sys.stderr)
        time.sleep(max(0.0, -late))
        src = Proc([*PY, "testsrc", "-o", f"udp://127.0.0.1:{media_port}", "--duration",
                    str(scenario.duration), "--size", size, "--bitrate",
                    f"{scenario.bitrate / 1e6:g}M", "--fps", str(scenario.fps), "--gop",
                    str(scenario.gop), "--audio", "aac" if scenario.audio else "none"],
                   work, "src")
        procs.append(src)
        src.p.wait(scenario.duration + 60)
        time.sleep(scenario.latency + 1.0)
        for p in [tx, *relays]:
            p.stop()
        report = json.loads(probe.p.communicate(timeout=60)[0] or "{}")
        sent = _testsrc_totals(src.text())
        wire = sum(r.last_json("netsim").get("forward", {}).get("offered_bytes", 0)
                   for r in relays)
        video = report.get("video", {})
        lat = report.get("latency_ms", {})
        on_time = report.get("within_ms", {}).get(str(budget_ms), 0)
        keys_missing = sorted(set(range(0, sent["frames"], scenario.gop))
                              - set(video.get("key_frame_indices", [])))
        return {"scenario": scenario.name, "system": system, "frames": sent["frames"],
                "setup_s": round(SETUP_LEAD + late, 2),
                "on_time": on_time / sent["frames"] if sent["frames"] else 0.0,
                "missing_frames": video.get("missing_frames"),
                "key_missing": len(keys_missing),
                "key_missing_at": keys_missing,
                "latency_p50_ms": lat.get("p50"), "latency_p99_ms": lat.get("p99"),
                "freezes": report.get("freezes", {}).get("count"),
                "overhead": wire / sent["bytes"] if sent["bytes"] else 0.0,
                "rist_buffer_ms": rist_buffer if kind != "strata" else None,
                # QUIC connections a path lost (and redialled): a live path never should
                "disconnects": {p["name"]: p["disconnects"]
                                for p in tx.last_json("send").get("paths", [])}
                if kind == "strata" else None,
                "decisions": tx.last_json("send").get("decisions") if kind == "strata" else None,
                "sent_per_path": {p["name"]: [p["sent"], p["lost"], p["srtt_ms"]]
                                  for p in tx.last_json("send").get("paths", [])}
                if kind == "strata" else None}
    finally:
        for p in procs:
            p.stop()
            p.err.close()
        shutil.rmtree(work, ignore_errors=True)


def _mean_rate(spec: PathSpec) -> float:
    if spec.rate:
        return spec.rate
    if spec.trace is not None:
        return spec.trace.mean_rate
    return 10e6


def _testsrc_totals(text: str) -> dict:
    """frames and media bytes from testsrc's closing line."""
    for line in reversed(text.splitlines()):
        if line.startswith("testsrc: done:"):
            frames = int(line.split("done:")[1].split("frames")[0])
            nbytes = int(line.split("datagrams,")[1].split("bytes")[0].strip()) \
                if "bytes" in line else 0
            return {"frames": frames, "bytes": nbytes}
    raise RuntimeError(f"testsrc did not finish: {text[-300:]}")


def compare_with_simulator(scenario: Scenario, scheduler: str = "storm") -> dict:
    real = run_real(scenario, f"strata:{scheduler}")
    sim = simulate(scenario, scheduler)
    return {"real": real, "sim": sim,
            "on_time_diff": abs(real["on_time"] - sim["on_time"]) / max(sim["on_time"], 1e-9),
            "overhead_diff": abs(real["overhead"] - sim["overhead"]) / sim["overhead"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="failover")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--compare-sim", action="store_true",
                    help="also run the simulator on the scenario for each strata scheduler")
    args = ap.parse_args()
    scenario = make_scenario(args.scenario, args.duration)
    print(f"{'scenario':14} {'system':18} {'on-time':>8} {'missing':>7} {'keys lost':>9} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'freezes':>7} {'overhead':>8}", flush=True)
    for system in args.systems.split(","):
        t0 = time.monotonic()
        r = run_real(scenario, system)
        print(f"{r['scenario']:14} {system:18} {r['on_time']:8.2%} {r['missing_frames']!s:>7} "
              f"{r['key_missing']:9d} {r['latency_p50_ms']!s:>7} {r['latency_p99_ms']!s:>7} "
              f"{r['freezes']!s:>7} {r['overhead']:8.2f}   ({time.monotonic() - t0:.0f} s, "
              f"set-up {r['setup_s']:.1f} s)",
              flush=True)
        if args.compare_sim and system.startswith("strata:"):
            scheduler, _, cc = system.split(":")[1].partition("+")
            sim = simulate(scenario, scheduler, cc=cc or None)
            print(f"{'':14} {'  simulator':18} {sim['on_time']:8.2%} {'':>7} "
                  f"{'':>9} {sim['latency_p50_ms']:7.0f} {sim['latency_p99_ms']:7.0f} "
                  f"{sim['stalls']:7d} {sim['overhead']:8.2f}", flush=True)


if __name__ == "__main__":
    main()
