"""`python -m services.router [--host H] [--port P]`: the router under uvicorn (WORKERS processes),
draining on SIGTERM. `python -m services.router keys ...` manages client keys (see keys_cli.py)."""

from __future__ import annotations

import argparse
import os
import socket
import sys

import uvicorn
from fastapi import FastAPI

from services.router import keys_cli
from services.router.app import create_app
from services.router.settings import RouterSettings
from shared.crypto import load_fernet
from shared.errors import ConfigError
from shared.http_deadlines import ClientDeadlines, deadline_protocol
from shared.logging import configure_logging
from shared.server import GracefulServer
from shared.workers import STARTUP_FAILED, listen, supervise

BACKLOG = 4096


def draining_server(
    config: uvicorn.Config, app: FastAPI, delay: float = 0.0, supervisor: int | None = None
) -> GracefulServer:
    """On SIGTERM/SIGINT readiness goes 503 at once; after `delay` uvicorn stops accepting and lets
    streams finish."""

    def drain() -> None:
        ctx = getattr(app.state, "ctx", None)
        if ctx is not None:
            ctx.draining = True

    return GracefulServer(config, delay=delay, on_drain=drain, supervisor=supervisor)


def serve(
    settings: RouterSettings,
    host: str,
    port: int,
    sockets: list[socket.socket] | None = None,
    supervisor: int | None = None,
) -> int:
    """One router process until SIGTERM: on host:port, or on `sockets` bound by its supervisor."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        http=deadline_protocol(
            ClientDeadlines(settings.http_head_timeout_seconds, settings.http_body_timeout_seconds)
        ),
        backlog=BACKLOG,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=int(settings.drain_timeout_seconds),
    )
    server = draining_server(config, app, settings.shutdown_delay_seconds, supervisor)
    server.run(sockets=sockets)
    return 0 if server.started else STARTUP_FAILED


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keys"]:
        return keys_cli.main(argv[1:])
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
    host, port = args.host or settings.host, args.port or settings.port
    if settings.workers == 1:
        return serve(settings, host, port)
    load_fernet()  # every worker decrypts tokens: loaded once here, the workers share its pages
    supervisor = os.getpid()
    return supervise(
        settings.workers,
        lambda sockets: serve(settings, host, port, sockets, supervisor),
        [listen(host, port, BACKLOG)],
        service="router",
    )


if __name__ == "__main__":
    sys.exit(main())
