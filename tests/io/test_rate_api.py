"""The rate API over a real socket: JSON now, SSE on every change, metrics, stats."""

from __future__ import annotations

import asyncio
import json

from strata_roq.io.rate_api import RateFeed, serve_rate_api


async def _get(port: int, path: str) -> tuple[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    raw = (await asyncio.wait_for(reader.read(), 5)).decode()
    writer.close()
    head, _, body = raw.partition("\r\n\r\n")
    return head, body


async def _event(reader) -> tuple[str, dict]:
    name = data = None
    while True:
        line = (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif not line and name:
            return name, data


async def test_rate_now_events_on_change_and_metrics():
    feed = RateFeed(stats=lambda: {"packets": 12, "resets_sent": 1})
    server, task, port = await serve_rate_api(feed, "127.0.0.1", 0)
    try:
        feed.publish(2_000_000, 2.4e6, 1.0)
        head, body = await _get(port, "/api/rate")
        assert " 200 " in head.splitlines()[0] and "no-store" in head
        assert json.loads(body) == {"rate_bps": 2_000_000, "safe_bps": 2_400_000,
                                    "key_frames_requested": 0, "updated_s": 1.0}
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/rate/events HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await _event(reader)) == ("rate", json.loads(body))     # the current one at once
        for _ in range(100):
            if feed.subscribers:
                break
            await asyncio.sleep(0.01)
        feed.publish(2_000_000, 2.5e6, 1.1)              # same rate: no event
        feed.publish(1_500_000, 1.6e6, 1.2)
        name, data = await _event(reader)
        assert name == "rate" and data["rate_bps"] == 1_500_000 and data["updated_s"] == 1.2
        feed.publish(1_500_000, 1.6e6, 1.3, key_frame=True)
        name, data = await _event(reader)
        assert name == "key_frame" and data["key_frames_requested"] == 1
        writer.close()
        _, metrics = await _get(port, "/metrics")
        assert "strata_rate_signal_bps 1.5e+06" in metrics
        assert 'strata_send{counter="resets_sent"} 1.0' in metrics
        _, stats = await _get(port, "/api/stats")
        assert json.loads(stats) == {"packets": 12, "resets_sent": 1}
        for _ in range(100):                                # the closed reader is forgotten
            if not feed.subscribers:
                break
            await asyncio.sleep(0.01)
        assert feed.subscribers == 0
    finally:
        server.should_exit = True
        await task


async def test_a_bonded_senders_paths_and_decisions_are_metrics():
    stats = {"packets": 3, "cc": "bbr-rt", "decisions": {"dispatch": 40, "duplicate": 2},
             "paths": [{"name": "lte", "alive": True, "rate_mbps": 3.5, "pacing_mbps": 2.25,
                        "srtt_ms": 61.2, "rsrp": None, "roq": {"packets": 9}},
                       {"name": "wifi", "alive": False, "rate_mbps": 0.0, "srtt_ms": None}]}
    server, task, port = await serve_rate_api(RateFeed(stats=lambda: stats), "127.0.0.1", 0)
    try:
        _, metrics = await _get(port, "/metrics")
    finally:
        server.should_exit = True
        await task
    assert 'strata_send_path{metric="pacing_mbps",path="lte"} 2.25' in metrics
    assert 'strata_send_path{metric="alive",path="lte"} 1.0' in metrics
    assert 'strata_send_path{metric="alive",path="wifi"} 0.0' in metrics
    assert 'strata_send_decisions{decision="duplicate"} 2.0' in metrics
    assert 'metric="rsrp"' not in metrics and 'metric="roq"' not in metrics
