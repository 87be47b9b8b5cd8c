"""`python -m services.kiro_emulator --host 127.0.0.1 --port 9100`."""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiohttp import web

from services.kiro_emulator.app import create_app
from services.kiro_emulator.settings import EmulatorSettings
from shared.logging import configure_logging

logger = logging.getLogger("services.kiro_emulator")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.kiro_emulator", description=__doc__)
    parser.add_argument("--host", help="listen address (default: HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default: PORT or 9100)")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = EmulatorSettings.load(**overrides)
    configure_logging("kiro_emulator", settings.log_level, settings.log_format)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional
        logger.info("uvloop not installed; using the default event loop")
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    logger.info("kiro emulator listening on %s:%d", settings.host, settings.port)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        shutdown_timeout=2.0,
    )


if __name__ == "__main__":
    main()
