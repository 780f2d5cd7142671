"""Prometheus exposition of the gateway's stats (prometheus-client, a registry per scrape so
the figures are exactly the stats JSON's)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


def render_metrics(stats: dict) -> tuple[bytes, str]:
    reg = CollectorRegistry()
    Gauge("strata_viewers", "viewers watching now", registry=reg).set(stats.get("viewers", 0))
    Gauge("strata_viewers_joined_total", "viewers that joined", registry=reg).set(
        stats.get("joined", 0))
    frames = Gauge("strata_frames_total", "frames taken from the input", ["kind"], registry=reg)
    for kind, n in (stats.get("frames") or {}).items():
        frames.labels(kind).set(n)
    per = Gauge("strata_viewer_frames_total", "per-viewer frame outcomes, summed", ["outcome"],
                registry=reg)
    totals: dict[str, int] = {}
    for v in stats.get("per_viewer", []):
        for k in ("frames_sent", "resets", "skipped", "key_resets", "catchup_frames"):
            totals[k] = totals.get(k, 0) + v.get(k, 0)
    for k, n in totals.items():
        per.labels(k).set(n)
    web = Gauge("strata_web_events_total", "session outcomes", ["event"], registry=reg)
    for k, n in (stats.get("web") or {}).items():
        web.labels(k).set(n)
    ingest = stats.get("ingest") or {}
    ing = Gauge("strata_ingest", "input counters (RIST receiver)", ["counter"], registry=reg)
    for k, n in ingest.items():
        if isinstance(n, (int, float)):
            ing.labels(k).set(n)
    return generate_latest(reg), CONTENT_TYPE_LATEST
