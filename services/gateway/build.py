"""A client's body to the Kiro request: parse (per API), build, and the input tokens to announce.

The CPU part of a request: `prepare` (chat.py) runs it in a worker thread when the body is big.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from services.gateway.body import parse_json_object
from services.gateway.errors import Protocol
from services.gateway.offload import traceback_free
from services.gateway.responses import RESPONSES_ROUTE, ResponsesRequest, parse_responses
from services.gateway.translate import (
    ChatRequest,
    ImagePart,
    ToolResultPart,
    build_kiro_request,
    count_tokens,
    parse_anthropic,
    parse_openai,
)
from services.gateway.translate.image_size import image_tokens
from services.gateway.translate.kiro_request import KiroRequest
from services.gateway.translate.models import ResolvedModel
from services.gateway.web_search import offer_search_tool
from shared.errors import InvalidRequestError
from shared.logging import log_fields

logger = logging.getLogger(__name__)

# Tokenizing costs ~0.15 ms per KB and holds the GIL, so only small prompts are counted exactly before
# the first byte; larger ones are estimated from the payload size (Kiro's contextUsage corrects the
# figure by the end of the stream; count_tokens stays exact).
EXACT_COUNT_BYTES = 8192
PAYLOAD_BYTES_PER_TOKEN = 4.4  # measured on Claude Code's first turn: 75 372 bytes, 16 969 tokens


def estimate_input_tokens(req: ChatRequest, payload_bytes: int) -> int:
    """Input tokens for `message_start`: exact for small prompts, a size estimate otherwise."""
    if payload_bytes <= EXACT_COUNT_BYTES:
        return count_tokens(req)
    images = [p for m in req.messages for p in m.parts if isinstance(p, ImagePart)]
    images += [i for m in req.messages for p in m.parts if isinstance(p, ToolResultPart) for i in p.images]
    text_bytes = payload_bytes - sum(len(i.data) for i in images)
    return max(1, round(text_bytes / PAYLOAD_BYTES_PER_TOKEN) + sum(image_tokens(i) for i in images))


def parse_body(raw: bytes, protocol: Protocol, session_id: str | None, max_depth: int) -> ChatRequest:
    """The client's body as a ChatRequest; InvalidRequestError (400) on anything malformed."""
    body = parse_json_object(raw, max_depth)
    try:
        if protocol is Protocol.ANTHROPIC:
            return parse_anthropic(body, session_id=session_id)
        return parse_openai(body)
    except InvalidRequestError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise _malformed(exc) from None


def parse_responses_body(raw: bytes, max_depth: int, prior: list[dict[str, Any]] | None) -> ResponsesRequest:
    """A `/v1/responses` body (continuing `prior`, the stored conversation it names); 400 when malformed."""
    body = parse_json_object(raw, max_depth)
    try:
        return parse_responses(body, prior)
    except InvalidRequestError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise _malformed(exc) from None


def _malformed(exc: Exception) -> InvalidRequestError:
    # a shape the parser did not foresee is still the client's malformed input, never a 500
    logger.warning("request parser failed on unexpected input", extra=log_fields(error=repr(exc)))
    return InvalidRequestError(f"malformed request body: {exc}")


@dataclass(slots=True)
class Built:
    """What `build` makes of a body: the request, its model, the Kiro request, input tokens to announce."""

    req: ChatRequest
    resolved: ResolvedModel
    kiro: KiroRequest
    input_tokens: int
    responses: ResponsesRequest | None = None


def parse_request(
    raw: bytes,
    protocol: Protocol,
    session_id: str | None,
    max_depth: int,
    *,
    route: str,
    prior: list[dict[str, Any]] | None,
) -> tuple[ChatRequest, ResponsesRequest | None]:
    """The body as a ChatRequest, and for `/v1/responses` the Responses request it came from."""
    if route == RESPONSES_ROUTE:
        responses = parse_responses_body(raw, max_depth, prior)
        return responses.chat, responses
    return parse_body(raw, protocol, session_id, max_depth), None


parse = traceback_free(parse_body)
parse_any = traceback_free(parse_request)


@traceback_free
def build(
    req: ChatRequest,
    responses: ResponsesRequest | None,
    *,
    resolved: ResolvedModel,
    origin: str,
    profile_arn: str | None,
    limit: int,
) -> Built:
    """A parsed request to the Kiro request: the CPU part of a request after parsing (a worker's, if big)."""
    offer_search_tool(req)
    kiro = build_kiro_request(
        req,
        model_id=resolved.kiro_id,
        origin=origin,
        profile_arn=profile_arn,
        thinking=resolved.thinking,
        max_payload_bytes=limit,
    )
    return Built(req, resolved, kiro, estimate_input_tokens(req, kiro.payload_bytes), responses)
