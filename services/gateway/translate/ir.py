"""The intermediate representation both client protocols are parsed into and Kiro requests are built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from services.gateway.translate.structured import OutputFormat

Protocol = Literal["openai", "anthropic"]
Role = Literal["user", "assistant"]

#: what we clamp `max_tokens` to; Kiro does not enforce it, but clients read it back
MAX_OUTPUT_TOKENS = 64_000
DEFAULT_MAX_TOKENS = 8_192


@dataclass(slots=True)
class TextPart:
    text: str


@dataclass(slots=True)
class ImagePart:
    """An inline image: `media_type` like `image/png`, `data` plain base64 (no `data:` prefix)."""

    media_type: str
    data: str

    @property
    def format(self) -> str:
        """Kiro's `format`: the subtype of the media type (`image/jpg` is spelled `jpeg`)."""
        subtype = self.media_type.partition("/")[2].lower()
        return "jpeg" if subtype == "jpg" else subtype


@dataclass(slots=True)
class ImageUrlPart:
    """A remote image the gateway fetches before calling Kiro (`remote_images`); `param` names the field."""

    url: str
    param: str


@dataclass(slots=True)
class ToolUsePart:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(slots=True)
class ToolResultPart:
    tool_use_id: str
    text: str
    is_error: bool = False
    images: list[ImagePart] = field(default_factory=list)
    #: remote images; once fetched they join `images`
    image_urls: list[ImageUrlPart] = field(default_factory=list)


@dataclass(slots=True)
class ThinkingPart:
    text: str
    signature: str = ""


Part = TextPart | ImagePart | ImageUrlPart | ToolUsePart | ToolResultPart | ThinkingPart


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]


@dataclass(slots=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(slots=True)
class ToolChoice:
    """`auto` (default), `any` (must call some tool), `none`, or `tool` (must call `name`)."""

    mode: Literal["auto", "any", "none", "tool"] = "auto"
    name: str | None = None


@dataclass(slots=True)
class ThinkingRequest:
    """The client asked for reasoning: `enabled` with a token budget, or `adaptive` with an effort."""

    mode: Literal["enabled", "adaptive"]
    budget_tokens: int | None = None
    effort: str | None = None


@dataclass(slots=True)
class WebSearchSpec:
    """Anthropic's server tool `web_search_*`; the gateway runs it (services/gateway/web_search.py)."""

    name: str = "web_search"
    max_uses: int | None = None
    allowed_domains: list[str] = field(default_factory=list)
    blocked_domains: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ChatRequest:
    """One chat request, whatever protocol it arrived in."""

    protocol: Protocol
    model: str
    messages: list[Message]
    system: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    max_tokens: int = DEFAULT_MAX_TOKENS
    stream: bool = False
    thinking: ThinkingRequest | None = None
    stop_sequences: list[str] = field(default_factory=list)
    include_usage: bool = False
    #: a stable id of the client's conversation (Claude Code session id), if the client sent one
    session_id: str | None = None
    #: the client offered Anthropic's web search server tool
    web_search: WebSearchSpec | None = None
    #: JSON mode / JSON Schema the answer text must satisfy (its instruction is already in `system`)
    output_format: OutputFormat | None = None
