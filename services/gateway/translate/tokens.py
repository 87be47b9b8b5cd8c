"""Token estimates with cl100k_base (bpe_openai, bundled vocabulary): prompts and streamed output."""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import orjson

from services.gateway.translate.ir import (
    ChatRequest,
    ImagePart,
    TextPart,
    ThinkingPart,
    ToolResultPart,
    ToolUsePart,
)

# bpe_openai refuses a call producing > 200 000 tokens; a char is at most 4 bytes -> ≤ 4 tokens
_CHUNK_CHARS = 40_000
IMAGE_TOKENS = 1_600  # Anthropic's estimate for a ~1.15 megapixel image; we do not decode sizes
MESSAGE_OVERHEAD = 4
TOOL_OVERHEAD = 8
_CACHE_MIN_CHARS = 512
_CACHED_PIECES = 512  # bounded: at most this many long strings are kept alive by the cache


@lru_cache(maxsize=1)
def _encoding() -> Any:
    with warnings.catch_warnings():
        # bpe_openai 0.1.4 loads its vocabulary (at import) with the deprecated importlib.resources API
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai

        return bpe_openai.get_encoding("cl100k_base")


def load_tokenizer() -> None:
    """Load the vocabulary now (≈0.4 s) rather than on the first request; call it at start-up."""
    _encoding()


def count_text(text: str) -> int:
    """Tokens in `text` (cl100k_base, no special tokens)."""
    if not text:
        return 0
    encode = _encoding().encode_ordinary
    if len(text) <= _CHUNK_CHARS:
        return len(encode(text))
    return sum(len(encode(text[i : i + _CHUNK_CHARS])) for i in range(0, len(text), _CHUNK_CHARS))


@lru_cache(maxsize=_CACHED_PIECES)
def _count_cached(text: str) -> int:
    return count_text(text)


def _count_piece(text: str) -> int:
    # agents resend the same system prompt, tool list and history every turn: count each long piece once
    return _count_cached(text) if len(text) >= _CACHE_MIN_CHARS else count_text(text)


def count_tokens(req: ChatRequest) -> int:
    """Estimated input tokens of a request: system, tools, messages as they are sent to Kiro (≥ 1)."""
    pieces: list[str] = list(req.system)
    extra = 0
    for tool in req.tools:
        pieces += [tool.name, tool.description, orjson.dumps(tool.input_schema).decode()]
        extra += TOOL_OVERHEAD
    for message in req.messages:
        extra += MESSAGE_OVERHEAD
        for part in message.parts:
            if isinstance(part, TextPart):
                pieces.append(part.text)
            elif isinstance(part, ToolUsePart):
                pieces += [part.name, orjson.dumps(part.input).decode()]
            elif isinstance(part, ToolResultPart):
                pieces.append(part.text)
                extra += IMAGE_TOKENS * len(part.images)
            elif isinstance(part, ThinkingPart):
                pieces.append(part.text)
            elif isinstance(part, ImagePart):
                extra += IMAGE_TOKENS
    return max(1, sum(_count_piece(piece) for piece in pieces) + extra)
