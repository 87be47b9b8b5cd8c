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
from services.gateway.translate.models import KNOWN_MODELS, ModelResolver, ResolvedModel, context_window
from services.gateway.translate.openai_in import parse_openai

__all__ = [
    "KNOWN_MODELS",
    "ChatRequest",
    "ImagePart",
    "Message",
    "ModelResolver",
    "ResolvedModel",
    "TextPart",
    "ThinkingPart",
    "ThinkingRequest",
    "Tool",
    "ToolChoice",
    "ToolResultPart",
    "ToolUsePart",
    "context_window",
    "parse_anthropic",
    "parse_openai",
]
