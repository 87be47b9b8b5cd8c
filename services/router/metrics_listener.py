"""The router's `/metrics` on a port of its own (METRICS_PORT), apart from the client and admin APIs.

A separate port keeps the metrics off the Service or load balancer clients reach, and lets annotation-based
Kubernetes scraping (which cannot send a bearer) work without exposing them. METRICS_BEARER applies here too.
"""

from __future__ import annotations

from aiohttp import web

from services.router.context import AppContext
from services.router.routes.health import METRICS_CHALLENGE, METRICS_REFUSED, metrics_allowed
from shared.metrics import exposition


async def start_metrics_listener(
    ctx: AppContext, host: str, port: int, *, shared: bool = False
) -> web.AppRunner:
    """Serve `/metrics` on host:port until the returned runner is cleaned up; `shared`: every worker of
    the router binds the port (SO_REUSEPORT), any of them answers with the merged metrics."""

    async def metrics(request: web.Request) -> web.Response:
        if not metrics_allowed(ctx, request.headers.get("Authorization", "")):
            return web.json_response(
                {"detail": METRICS_REFUSED}, status=401, headers={"WWW-Authenticate": METRICS_CHALLENGE}
            )
        body, content_type = exposition(ctx.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_port=shared).start()
    return runner
