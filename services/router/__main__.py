"""`python -m services.router [--host H] [--port P]`: the router under uvicorn, draining on SIGTERM."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from fastapi import FastAPI

from services.router.app import create_app
from services.router.settings import RouterSettings
from shared.errors import ConfigError
from shared.http_deadlines import ClientDeadlines, deadline_protocol
from shared.logging import configure_logging
from shared.server import GracefulServer


def draining_server(config: uvicorn.Config, app: FastAPI, delay: float = 0.0) -> GracefulServer:
    """On SIGTERM/SIGINT readiness goes 503 at once; after `delay` uvicorn stops accepting and lets
    streams finish."""

    def drain() -> None:
        ctx = getattr(app.state, "ctx", None)
        if ctx is not None:
            ctx.draining = True

    return GracefulServer(config, delay=delay, on_drain=drain)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.router", description=__doc__)
    parser.add_argument("--host", help="listen address (default: HOST setting)")
    parser.add_argument("--port", type=int, help="listen port (default: PORT setting, 8088)")
    args = parser.parse_args(argv)
    try:
        settings = RouterSettings.load()
    except ConfigError as exc:
        print(f"router: {exc}", file=sys.stderr)
        return 2
    configure_logging("router", settings.log_level, settings.log_format)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        http=deadline_protocol(
            ClientDeadlines(settings.http_head_timeout_seconds, settings.http_body_timeout_seconds)
        ),
        backlog=4096,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=int(settings.drain_timeout_seconds),
    )
    draining_server(config, app, settings.shutdown_delay_seconds).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
