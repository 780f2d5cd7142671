"""The encoder rate signal over HTTP (``send --api HOST:PORT``), for encoders that would
rather ask than listen on UDP: an OBS script, a web control panel, a monitoring system.

- ``GET /api/rate``: the current signal ``{"rate_bps", "safe_bps", "key_frames_requested",
  "updated_s"}`` (JSON, never cached);
- ``GET /api/rate/events``: Server-Sent Events, an ``event: rate`` with that JSON at once and
  on every change (a key-frame request is an ``event: key_frame``), a comment line every
  15 s so proxies keep the connection;
- ``GET /api/stats``: the sender's whole stats JSON; ``GET /metrics``: Prometheus (a bonded
  sender's paths and scheduler decisions labelled by name).

Plain HTTP: it is a control API for the encoder's side of the gateway (bind it to the
loopback or a management network). starlette app, served by uvicorn in the sender's loop.
"""

from __future__ import annotations

import asyncio
import json

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

#: Seconds between SSE keep-alive comments.
KEEPALIVE = 15.0


class RateFeed:
    """The latest rate and the SSE subscribers waiting for the next one."""

    def __init__(self, stats=None) -> None:
        self.current = {"rate_bps": None, "safe_bps": None, "key_frames_requested": 0,
                        "updated_s": None}
        self.stats = stats or (lambda: {})          # the sender's stats, for /api/stats
        self._subscribers: set[asyncio.Queue] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, rate_bps: int, safe_bps: float | None, now: float,
                key_frame: bool = False) -> None:
        changed = rate_bps != self.current["rate_bps"]
        self.current.update(rate_bps=int(rate_bps), updated_s=round(now, 3),
                            safe_bps=None if safe_bps is None else int(safe_bps))
        if key_frame:
            self.current["key_frames_requested"] += 1
        if changed or key_frame:
            event = ("key_frame" if key_frame else "rate", dict(self.current))
            for queue in self._subscribers:
                if queue.full():                    # a slow reader gets the newest only
                    queue.get_nowait()
                queue.put_nowait(event)

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=8)
        queue.put_nowait(("rate", dict(self.current)))
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._subscribers.discard(queue)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def make_rate_app(feed: RateFeed) -> Starlette:
    no_store = {"cache-control": "no-store"}

    async def rate(request):
        return JSONResponse(feed.current, headers=no_store)

    async def events(request):
        queue = feed.subscribe()

        async def stream():
            try:
                while True:
                    try:
                        name, data = await asyncio.wait_for(queue.get(), KEEPALIVE)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"event: {name}\ndata: {json.dumps(data)}\n\n"
            finally:
                feed.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers=no_store)

    async def stats(request):
        return JSONResponse(feed.stats(), headers=no_store)

    async def metrics(request):
        from prometheus_client import CollectorRegistry, Gauge, generate_latest
        from prometheus_client.exposition import CONTENT_TYPE_LATEST

        reg = CollectorRegistry()
        for name, key, text in (("strata_rate_signal_bps", "rate_bps", "encoder rate signal"),
                                ("strata_safe_rate_bps", "safe_bps", "path safe-rate estimate")):
            if feed.current[key] is not None:
                Gauge(name, text, registry=reg).set(feed.current[key])
        Gauge("strata_key_frames_requested_total", "key-frame requests",
              registry=reg).set(feed.current["key_frames_requested"])
        sender = Gauge("strata_send", "sender counters", ["counter"], registry=reg)
        stats = feed.stats()
        for k, v in stats.items():
            if _number(v):
                sender.labels(k).set(v)
        if stats.get("paths"):          # a bonded sender: each path's state, by name
            path = Gauge("strata_send_path", "bonded path state (alive 1/0, rate_mbps, "
                         "pacing_mbps, srtt_ms, loss, sent, lost, deaths...)",
                         ["path", "metric"], registry=reg)
            for p in stats["paths"]:
                for k, v in p.items():
                    if isinstance(v, (int, float)):          # (alive: 1 or 0)
                        path.labels(p["name"], k).set(float(v))
        if stats.get("decisions"):
            decisions = Gauge("strata_send_decisions", "bonding decisions so far (dispatch, "
                              "duplicate, discard, decompensate, arq...)", ["decision"],
                              registry=reg)
            for k, v in stats["decisions"].items():
                decisions.labels(k).set(v)
        return Response(generate_latest(reg), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/api/rate", rate), Route("/api/rate/events", events),
                             Route("/api/stats", stats), Route("/metrics", metrics)])


async def serve_rate_api(feed: RateFeed, host: str, port: int):
    """Start uvicorn for the rate API in the running loop; returns (server, task, port).
    The socket is bound here, so a port in use is an OSError for the caller (uvicorn itself
    would exit the process)."""
    import uvicorn

    from strata_roq.io.tcp_listen import listen_tcp

    sock = listen_tcp(host, port, backlog=64)
    config = uvicorn.Config(make_rate_app(feed), log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None   # the command owns SIGINT/SIGTERM
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    for _ in range(300):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        task.cancel()
        raise OSError(f"the rate API could not listen on {host}:{port}")
    return server, task, sock.getsockname()[1]
