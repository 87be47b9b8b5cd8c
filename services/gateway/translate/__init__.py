"""Pure translation between client protocols (OpenAI, Anthropic), one IR, and Kiro (no I/O).

Request side: `parse_openai` / `parse_anthropic` -> `ChatRequest`; `ModelResolver.resolve`;
`build_kiro_request` -> `KiroRequest` (payload dict + serialized `body` bytes + tool name map);
`count_tokens`.
"""

from services.gateway.translate.anthropic_in import parse_anthropic
from services.gateway.translate.ir import (
    ChatRequest,
    ImagePart,
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
from services.gateway.translate.tokens import count_text, count_tokens, load_tokenizer
from services.gateway.translate.tools import ToolNameMap

__all__ = [
    "KNOWN_MODELS",
    "MAX_PAYLOAD_BYTES",
    "ChatRequest",
    "ContextLengthError",
    "ImagePart",
    "KiroRequest",
    "Message",
    "ModelResolver",
    "ResolvedModel",
    "TextPart",
    "ThinkingPart",
    "ThinkingRequest",
    "Tool",
    "ToolChoice",
    "ToolNameMap",
    "ToolResultPart",
    "ToolUsePart",
    "build_kiro_request",
    "context_window",
    "conversation_id_for",
    "count_text",
    "count_tokens",
    "load_tokenizer",
    "parse_anthropic",
    "parse_openai",
    "thinking_enabled",
]
