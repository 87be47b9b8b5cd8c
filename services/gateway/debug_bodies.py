"""DEBUG_MODE: the request, Kiro request and response bodies of one request, logged on one line."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.gateway.state import GatewayState
from shared.logging import log_fields

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class DebugBodies:
    """What DEBUG_MODE logs of one request (prompts included: it is an explicit opt-in)."""

    request: bytes
    kiro: bytes = b""


DEBUG_BODY_LIMIT = 64 * 1024


def _clip(raw: bytes) -> str:
    text = raw[:DEBUG_BODY_LIMIT].decode(errors="replace")
    extra = len(raw) - DEBUG_BODY_LIMIT
    return text + f" ... [{extra} more bytes]" if extra > 0 else text


def debug_log(
    state: GatewayState,
    route: str,
    status: int,
    bodies: DebugBodies | None,
    *,
    failure: str = "",
    response: bytes = b"",
) -> None:
    """DEBUG_MODE: one line with the bodies of a failed request (`errors`) or of every request (`all`)."""
    mode = state.settings.debug_mode
    failed = status >= 400 or bool(failure)
    if bodies is None or mode == "off" or (mode == "errors" and not failed):
        return
    fields: dict[str, object] = {"route": route, "status": status, "request_body": _clip(bodies.request)}
    if bodies.kiro:
        fields["kiro_request"] = _clip(bodies.kiro)
    if failure:
        fields["failure"] = failure
    if response:
        fields["response_body"] = _clip(response)
    log = logger.warning if failed else logger.info
    log("debug: request and response bodies", extra=log_fields(**fields))
