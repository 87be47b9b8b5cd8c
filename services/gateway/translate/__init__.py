"""Pure translation between client protocols (OpenAI, Anthropic), one IR, and Kiro (no I/O).

Request side: `parse_openai` / `parse_anthropic` -> `ChatRequest`; `ModelResolver.resolve`;
`build_kiro_request` -> `KiroRequest` (payload dict + serialized `body` bytes + tool name map);
`count_tokens`.

Response side: `AnthropicStream` / `OpenAIStream` fed with `shared.kiro.events` events;
`start()`, `feed(event)`, `finish()`, `error(kind, message)`, `ping()`, `usage`, `result()` (non-stream),
`has_truncated_tool_call`, `partial_tool_call()`; `collect_anthropic` / `collect_openai`.

Notes for the app (additions to the gateway contract, all backwards compatible):
* `parse_anthropic(body, session_id=...)` takes the X-Claude-Code-Session-Id header value.
* `build_kiro_request(..., thinking=...)` gets the model-suffix flag; a `thinking` / `reasoning_effort`
  field in the body enables reasoning as well. Use `thinking_enabled(req, resolved.thinking)` for the
  translators' `thinking` argument. `conversation_id` may be None (stable per Claude Code session via
  `conversation_id_for`). `KiroRequest.body` is the serialized payload: POST it as is.
* Oversized payloads raise `ContextLengthError` (an `InvalidRequestError`) whose message already reads
  "prompt is too long: N tokens > M maximum"; `.tokens`, `.max_tokens`, `.payload_bytes`, `.max_bytes`.
* `feed(StreamError)` renders the in-band error itself (kind from the exception type, `.failure` set,
  later `feed`/`finish` return b""); `ContentLengthExceededException` instead ends with stop reason
  `max_tokens`. After `error()` or such a failure, do not expect `finish()` output.
* Auto-continuation: while `has_truncated_tool_call`, a `ToolUseStart` from the continuation response is
  taken as the same call (its fragments extend it); text deltas extend it too, up to the character that
  closes the JSON object, and what follows is ordinary text. `finish()` closes a call still cut with stop
  reason `max_tokens` (`length`).
* Both translators take `stop_sequences=req.stop_sequences` (keyword): the answer text ends at the first
  client stop sequence (Anthropic `stop_reason: "stop_sequence"` + `stop_sequence`, OpenAI `stop`); later
  Kiro content is dropped. Without it, stop sequences are ignored as before.
* `error_body(kind, message)` in anthropic_out / openai_out give the client error shapes per FailureKind.
* Structured output (`structured.py`, docs/structured-output.md): `req.output_format` (its instruction is
  already in `req.system`); translators take `output_format=` (keyword), strip a code fence around the
  answer, and after `finish()` hold `verdict` (a fatal one has ended a stream with an in-band error).
* Call `load_tokenizer()` at start-up (≈0.2 s) so the first request does not pay for it.
"""

from services.gateway.translate.anthropic_in import parse_anthropic
from services.gateway.translate.anthropic_out import AnthropicCollector, AnthropicStream, collect_anthropic
from services.gateway.translate.ir import (
    ChatRequest,
    ImagePart,
    ImageUrlPart,
    Message,
    TextPart,
    ThinkingPart,
    ThinkingRequest,
    Tool,
    ToolChoice,
    ToolResultPart,
    ToolUsePart,
)
from services.gateway.translate.kiro_request import (
    MAX_PAYLOAD_BYTES,
    ContextLengthError,
    KiroRequest,
    build_kiro_request,
    conversation_id_for,
    thinking_enabled,
)
from services.gateway.translate.models import KNOWN_MODELS, ModelResolver, ResolvedModel, context_window
from services.gateway.translate.openai_in import parse_openai
from services.gateway.translate.openai_out import (
    OpenAICollector,
    OpenAIStream,
    collect_openai,
)
from services.gateway.translate.stream_core import Usage
from services.gateway.translate.thinking import ThinkingSplitter
from services.gateway.translate.tokens import count_text, count_tokens, load_tokenizer
from services.gateway.translate.tools import ToolNameMap

__all__ = [
    "KNOWN_MODELS",
    "MAX_PAYLOAD_BYTES",
    "AnthropicCollector",
    "AnthropicStream",
    "ChatRequest",
    "ContextLengthError",
    "ImagePart",
    "ImageUrlPart",
    "KiroRequest",
    "Message",
    "ModelResolver",
    "OpenAICollector",
    "OpenAIStream",
    "ResolvedModel",
    "TextPart",
    "ThinkingPart",
    "ThinkingRequest",
    "ThinkingSplitter",
    "Tool",
    "ToolChoice",
    "ToolNameMap",
    "ToolResultPart",
    "ToolUsePart",
    "Usage",
    "build_kiro_request",
    "collect_anthropic",
    "collect_openai",
    "context_window",
    "conversation_id_for",
    "count_text",
    "count_tokens",
    "load_tokenizer",
    "parse_anthropic",
    "parse_openai",
    "thinking_enabled",
]
