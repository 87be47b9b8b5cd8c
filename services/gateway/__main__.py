"""`python -m services.gateway --host 127.0.0.1 --port 8000`."""

from __future__ import annotations

import argparse

import uvicorn

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from shared.http_deadlines import ClientDeadlines, deadline_protocol
from shared.logging import configure_logging
from shared.server import GracefulServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.gateway", description="Kiro Stack gateway")
    parser.add_argument("--host", default=None, help="listen address (default: HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="listen port (default: PORT or 8000)")
    args = parser.parse_args()
    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    settings = GatewaySettings.load(**overrides)
    configure_logging("gateway", settings.log_level, settings.log_format)
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
        backlog=2048,
    )

    def drain() -> None:  # /ready answers 503 from now on: the router's probe stops sending requests
        state = getattr(app.state, "gateway", None)
        if state is not None:
            state.draining = True

    GracefulServer(config, delay=settings.shutdown_delay_seconds, on_drain=drain).run()


if __name__ == "__main__":
    main()
