"""The per-process resources every route uses, built in the app lifespan and injected with `Depends`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from services.gateway.credentials import TokenCache
from services.gateway.kiro.client import KiroClient
from services.gateway.kiro.models import ModelCatalog
from services.gateway.metrics import GatewayMetrics
from services.gateway.offload import Offload
from services.gateway.options import RequestContextFactory
from services.gateway.remote_images import ImageFetcher
from services.gateway.responses_store import ConversationStore
from services.gateway.settings import GatewaySettings
from shared.kiro.transport import ProxySessions


@dataclass(slots=True)
class GatewayState:
    settings: GatewaySettings
    metrics: GatewayMetrics
    sessions: ProxySessions
    client: KiroClient
    catalog: ModelCatalog
    tokens: TokenCache
    contexts: RequestContextFactory
    offload: Offload
    #: fetches image URLs before the Kiro call; None when IMAGE_FETCH_ENABLED is off
    images: ImageFetcher | None
    #: Responses API conversations for `previous_response_id` (Redis in the stack, memory standalone)
    responses: ConversationStore
    draining: bool = False  # SIGTERM came: /ready answers 503 until the listener closes


async def get_state(request: Request) -> GatewayState:
    """FastAPI dependency (async: a sync one would run in the thread pool on every request)."""
    state: GatewayState = request.app.state.gateway
    return state
