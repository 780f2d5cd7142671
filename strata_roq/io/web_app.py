"""The HTTPS side of the web server: pages from ``web/``, JSON for the page and the
dashboard, Prometheus metrics. Built with starlette; served by uvicorn (see webtransport)."""

from __future__ import annotations

import os
import time

from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles


def make_app(server) -> Starlette:
    from strata_roq.io.webtransport import WEB_ROOT
    from strata_roq.wt.metrics import render_metrics

    async def index(request):
        return FileResponse(os.path.join(WEB_ROOT, "player.html"))

    async def dashboard(request):
        return FileResponse(os.path.join(WEB_ROOT, "dashboard.html"))

    async def info(request):
        return JSONResponse(server.info(), headers={"cache-control": "no-store"})

    async def now(request):
        """The server's wall clock, for a page to measure its offset from (several tries, the
        quickest answer kept: NTP's rule), so glass-to-glass latency is not off by a slow
        fetch's half round trip."""
        return JSONResponse({"server_time_ms": time.time() * 1000},
                            headers={"cache-control": "no-store"})

    async def stats(request):
        return JSONResponse(server.stats(), headers={"cache-control": "no-store"})

    async def metrics(request):
        body, content_type = render_metrics(server.stats())
        return Response(body, media_type=content_type)

    async def events(request):
        """Server-Sent Events: the stats JSON once a second, for the dashboard."""
        import asyncio
        import json

        async def stream():
            while True:
                yield f"data: {json.dumps(server.stats())}\n\n"
                await asyncio.sleep(1.0)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store"})

    async def no_icon(request):
        return Response(status_code=204)

    return Starlette(routes=[
        Route("/", index), Route("/favicon.ico", no_icon), Route("/dashboard", dashboard),
        Route("/api/info", info), Route("/api/time", now), Route("/api/stats", stats),
        Route("/api/events", events), Route("/metrics", metrics),
        Mount("/static", StaticFiles(directory=WEB_ROOT), name="static"),
    ])
