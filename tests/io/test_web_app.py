"""The gateway's HTTPS routes (starlette), without a network: the page's clock reference and
its JSON endpoints."""

from __future__ import annotations

import time

from starlette.testclient import TestClient

from strata_roq.io.web_app import make_app


class _Server:
    def info(self) -> dict:
        return {"stream": "live"}

    def stats(self) -> dict:
        return {"viewers": 0, "per_viewer": []}


def test_time_is_the_servers_wall_clock_and_never_cached():
    client = TestClient(make_app(_Server()))
    before = time.time() * 1000
    reply = client.get("/api/time")
    after = time.time() * 1000
    assert reply.status_code == 200
    assert reply.headers["cache-control"] == "no-store"
    assert before <= reply.json()["server_time_ms"] <= after


def test_info_and_stats_are_json():
    client = TestClient(make_app(_Server()))
    assert client.get("/api/info").json()["stream"] == "live"
    assert client.get("/api/stats").json() == {"viewers": 0, "per_viewer": []}
    assert client.get("/favicon.ico").status_code == 204
