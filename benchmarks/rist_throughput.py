"""RIST throughput on loopback: Strata's send/receive vs librist's ristsender/ristreceiver.

For each offered load, a paced UDP source feeds the sender, the receiver hands the stream to
a counting sink, and we record what arrived and the CPU the sender + receiver used (from
/proc, user + system). The sustainable rate is the highest load delivered with zero loss.

    .venv/bin/python benchmarks/rist_throughput.py [--rates 20,50,100,150] [--seconds 4]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time

PAYLOAD = 1316


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1] & ~1


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def sink(port: int, result: dict) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.bind(("127.0.0.1", port))
    s.settimeout(10.0)              # librist holds every packet for its buffer (1 s) first
    count = 0
    try:
        while True:
            s.recv(2048)
            count += 1
            s.settimeout(2.0)
    except socket.timeout:
        pass
    result["count"] = count
    s.close()


def source(port: int, mbps: float, seconds: float) -> int:
    pps = mbps * 1e6 / (PAYLOAD * 8)
    total = int(pps * seconds)
    burst = max(1, int(pps / 1000))            # send in 1 ms bursts
    data = b"\x47" + bytes(PAYLOAD - 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t0 = time.monotonic()
    sent = 0
    while sent < total:
        for _ in range(min(burst, total - sent)):
            s.sendto(data, ("127.0.0.1", port))
            sent += 1
        delay = t0 + sent / pps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    s.close()
    return sent


def run(impl: str, mbps: float, seconds: float) -> dict:
    rist, inp, out = free_port(), free_port() + 1, free_port() + 1
    py = [sys.executable, "-m", "strata_roq"]
    if impl == "strata":
        rx_cmd = py + ["receive", "-i", f"rist://@127.0.0.1:{rist}", "-o", f"udp://127.0.0.1:{out}", "-q"]
        tx_cmd = py + ["send", "-i", f"udp://@127.0.0.1:{inp}", "-o", f"rist://127.0.0.1:{rist}", "-q"]
    else:
        rx_cmd = ["ristreceiver", "-i", f"rist://@127.0.0.1:{rist}", "-o", f"udp://127.0.0.1:{out}"]
        tx_cmd = ["ristsender", "-i", f"udp://@127.0.0.1:{inp}", "-o", f"rist://127.0.0.1:{rist}"]
    result: dict = {}
    t = threading.Thread(target=sink, args=(out, result))
    t.start()
    rx = subprocess.Popen(rx_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tx = subprocess.Popen(tx_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    cpu0 = cpu_seconds(rx.pid) + cpu_seconds(tx.pid)
    start = time.monotonic()
    sent = source(inp, mbps, seconds)
    elapsed = time.monotonic() - start
    time.sleep(1.2)
    cpu1 = cpu_seconds(rx.pid) + cpu_seconds(tx.pid)
    for p in (tx, rx):
        p.terminate()
    t.join()
    for p in (tx, rx):
        try:
            p.wait(3)
        except subprocess.TimeoutExpired:
            p.kill()
    received = result.get("count", 0)
    return {"impl": impl, "offered": mbps, "sent": sent, "received": received,
            "delivered_mbps": received * PAYLOAD * 8 / elapsed / 1e6,
            "loss": 1 - received / sent if sent else 1.0,
            "cpu": 100 * (cpu1 - cpu0) / (elapsed + 1.2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="100,200,300,400,500,600,700,800", help="offered loads, Mbit/s")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    best = {}
    print(f"{'impl':8} {'offered':>8} {'delivered':>10} {'loss':>8} {'CPU% tx+rx':>11}")
    for impl in ("strata", "librist"):
        for mbps in rates:
            r = run(impl, mbps, args.seconds)
            print(f"{impl:8} {mbps:8.0f} {r['delivered_mbps']:10.1f} {r['loss']:8.2%} "
                  f"{r['cpu']:11.0f}", flush=True)
            if r["received"] >= r["sent"]:
                best[impl] = max(best.get(impl, 0.0), mbps)
            else:
                break
    s, l = best.get("strata", 0.0), best.get("librist", 0.0)
    print(f"sustainable with zero loss: strata {s:.0f} Mbit/s, librist {l:.0f}+ Mbit/s"
          f" (ratio {s / l if l else 0:.2f}; librist may go higher than the largest load tried)")


if __name__ == "__main__":
    main()
