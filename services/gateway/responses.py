"""What the Responses API adds to a chat call: the `previous_response_id` lookup, its translator, storing.

The conversation is stored when the answer is complete and before its last event (`response.completed`)
is sent: text and tool calls stream as Kiro sends them, only the final event waits for one bounded store
write, so a client that sends its follow-up the moment it reads `response.completed` always finds it.
"""

from __future__ import annotations

import logging

from services.gateway.responses_store import ConversationStore, Items, StoreUnavailable
from services.gateway.translate import ChatRequest
from services.gateway.translate.responses_in import ResponsesRequest, parse_responses, previous_response_id
from services.gateway.translate.responses_out import ResponsesCollector, ResponsesStream
from services.gateway.translate.tools import ToolNameMap
from shared.errors import InvalidRequestError
from shared.logging import log_fields

logger = logging.getLogger(__name__)

#: the route name in metrics and logs; `chat` serves this API when a call carries it
RESPONSES_ROUTE = "responses"

__all__ = [
    "RESPONSES_ROUTE",
    "PreviousResponseNotFound",
    "ResponsesRequest",
    "StoreUnavailable",
    "load_previous",
    "parse_responses",
    "remember",
    "translator_for",
]


class PreviousResponseNotFound(InvalidRequestError):
    """`previous_response_id` names nothing stored (unknown, expired, `store: false`, or too large)."""

    code = "previous_response_not_found"

    def __init__(self, response_id: str) -> None:
        super().__init__(
            f"Previous response with id '{response_id}' not found"
            " (unknown, expired, or sent with store: false).",
            param="previous_response_id",
        )


async def load_previous(store: ConversationStore, body: dict[str, object]) -> Items | None:
    """The stored conversation the body continues, None when it names none.

    PreviousResponseNotFound (400) for an unknown id; StoreUnavailable when the store cannot tell.
    """
    response_id = previous_response_id(body)
    if response_id is None:
        return None
    items = await store.load(response_id)
    if items is None:
        raise PreviousResponseNotFound(response_id)
    return items


def translator_for(
    responses: ResponsesRequest,
    req: ChatRequest,
    *,
    model: str,
    input_tokens: int,
    tool_names: ToolNameMap,
    thinking: bool,
    context_window: int,
) -> ResponsesStream:
    if responses.ignored_tools:  # once per call: the answer is made without them
        logger.info(
            "built-in tools not offered to Kiro", extra=log_fields(tools=",".join(responses.ignored_tools))
        )
    kind = ResponsesStream if req.stream else ResponsesCollector
    return kind(
        model,
        input_tokens,
        tool_names,
        thinking,
        context_window,
        echo=responses.echo,
        tool_kinds=responses.tool_kinds,
        tool_namespaces=responses.tool_namespaces,
        encrypted_reasoning=responses.encrypted_reasoning,
        output_format=req.output_format,
    )


async def remember(
    store: ConversationStore, responses: ResponsesRequest, translator: ResponsesStream
) -> None:
    """Store the conversation with this answer (unless `store: false` or the answer failed)."""
    if not responses.store or translator.failure is not None:
        return
    await store.save(translator.response_id, [*responses.items, *translator.output_items()])
