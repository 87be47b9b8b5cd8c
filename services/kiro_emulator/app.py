"""The emulator's aiohttp application: Kiro endpoints, token endpoints and the control API."""

from __future__ import annotations

from aiohttp import web

from services.kiro_emulator import auth_routes, control_routes, kiro_routes, mcp_routes
from services.kiro_emulator.context import SETTINGS, STATE
from services.kiro_emulator.settings import EmulatorSettings
from services.kiro_emulator.state import EmulatorState


def create_app(settings: EmulatorSettings) -> web.Application:
    # Kiro bodies are at most ~600 KB; allow more so the size check answers Kiro's 400, not aiohttp's 413.
    app = web.Application(
        client_max_size=max(settings.emulator_max_payload_bytes * 4, 8 * 1024 * 1024),
        middlewares=[control_routes.control_errors],
    )
    app[SETTINGS] = settings
    app[STATE] = EmulatorState(
        access_token_ttl=settings.emulator_access_token_ttl,
        history_size=settings.emulator_history_size,
        demo_account=settings.emulator_demo_account,
    )
    kiro_routes.add_routes(app)
    mcp_routes.add_routes(app)
    auth_routes.add_routes(app)
    control_routes.add_routes(app)
    return app
