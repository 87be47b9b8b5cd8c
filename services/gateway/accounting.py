"""Counting and logging one chat request's outcome: metrics, the request log line, DEBUG_MODE bodies."""

from __future__ import annotations

import logging
import time

from starlette.responses import Response

from services.gateway.chat_call import ChatCall
from services.gateway.debug_bodies import DebugBodies, debug_log
from services.gateway.errors import failure_response
from services.gateway.relay import Translator
from services.gateway.state import GatewayState
from services.gateway.translate.structured import Verdict
from shared.errors import FailureKind, UpstreamError
from shared.logging import log_fields

logger = logging.getLogger(__name__)


def count_request(
    state: GatewayState,
    call: ChatCall,
    status: int,
    translator: Translator | None,
    failure: FailureKind | None = None,
) -> None:
    """Metrics and one log line for a finished chat request."""
    metrics = state.metrics
    metrics.child(metrics.requests, call.route, str(status), call.kiro_model).inc()
    usage = translator.usage if translator is not None else None
    if usage is not None:
        metrics.child(metrics.tokens, "in").inc(usage.input_tokens)
        metrics.child(metrics.tokens, "out").inc(usage.output_tokens)
    if not logger.isEnabledFor(logging.INFO):
        return
    fields: dict[str, object] = {
        "route": call.route,
        "asked": call.req.model[:128],
        "model": call.kiro_model,
        "status": status,
        "account": call.creds.account_id or "-",
        "stream": call.req.stream,
        "ms": round((time.perf_counter() - call.started) * 1000, 1),
    }
    if failure is not None:
        fields["failure"] = failure.value
    if usage is not None:
        fields.update(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    logger.info("chat request done", extra=log_fields(**fields))


def count_verdict(state: GatewayState, verdict: Verdict) -> None:
    outcome = "valid" if verdict.ok else "invalid" if verdict.fatal else "off_schema"
    state.metrics.child(state.metrics.structured_outputs, outcome).inc()


def failed(state: GatewayState, call: ChatCall, exc: UpstreamError) -> Response:
    """Kiro's failure before the first byte, in the client's shape; counted and (DEBUG_MODE) logged."""
    response = failure_response(call.protocol, exc)
    count_request(state, call, response.status_code, None, exc.kind)
    return debugged(state, call.route, call.debug, response)


def debugged(state: GatewayState, route: str, debug: DebugBodies | None, response: Response) -> Response:
    body = response.body if isinstance(response.body, bytes) else b""
    debug_log(state, route, response.status_code, debug, response=body)
    return response
