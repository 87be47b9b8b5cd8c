"""`python -m services.gateway --host 127.0.0.1 --port 8000` (WORKERS processes)."""

from __future__ import annotations

import argparse
import os
import socket
import sys

import uvicorn

from services.gateway.app import create_app, preload
from services.gateway.settings import GatewaySettings
from shared.http_deadlines import ClientDeadlines, deadline_protocol
from shared.logging import configure_logging
from shared.server import GracefulServer
from shared.workers import STARTUP_FAILED, listen, supervise

BACKLOG = 2048


def serve(
    settings: GatewaySettings, sockets: list[socket.socket] | None = None, supervisor: int | None = None
) -> int:
    """One gateway process until SIGTERM: on HOST:PORT, or on `sockets` bound by its supervisor."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=deadline_protocol(
            ClientDeadlines(settings.http_head_timeout_seconds, settings.http_body_timeout_seconds)
        ),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.drain_timeout_seconds),
        backlog=BACKLOG,
    )

    def drain() -> None:  # /ready answers 503 from now on: the router's probe stops sending requests
        state = getattr(app.state, "gateway", None)
        if state is not None:
            state.draining = True

    server = GracefulServer(
        config, delay=settings.shutdown_delay_seconds, on_drain=drain, supervisor=supervisor
    )
    server.run(sockets=sockets)
    return 0 if server.started else STARTUP_FAILED


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m services.gateway", description="Kiro Stack gateway")
    parser.add_argument("--host", default=None, help="listen address (default: HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="listen port (default: PORT or 8000)")
    args = parser.parse_args()
    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    settings = GatewaySettings.load(**overrides)
    configure_logging("gateway", settings.log_level, settings.log_format)
    if settings.workers == 1:
        return serve(settings)
    preload(settings)
    supervisor = os.getpid()
    return supervise(
        settings.workers,
        lambda sockets: serve(settings, sockets, supervisor),
        [listen(settings.host, settings.port, BACKLOG)],
        service="gateway",
    )


if __name__ == "__main__":
    sys.exit(main())
