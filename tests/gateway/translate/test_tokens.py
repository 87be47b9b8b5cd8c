"""Token estimates for count_tokens and usage (cl100k_base via tiktoken, bpe-openai's vocabulary)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.gateway.translate import count_text, count_tokens, parse_anthropic, parse_openai
from tests.gateway.translate.fixtures import load_capture

PNG = "iVBORw0KGgoAAAANSUhEUg=="
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "name",
    ["claude_code_05_count_tokens_a", "claude_code_06_count_tokens_b", "sdk_anthropic_py_count_tokens"],
)
def test_count_tokens_captures_count_at_least_one_token(name: str) -> None:
    assert count_tokens(parse_anthropic(load_capture(name)["body"])) >= 1


def test_tools_are_counted() -> None:
    probe = count_tokens(parse_anthropic(load_capture("claude_code_05_count_tokens_a")["body"]))
    with_tools = count_tokens(parse_anthropic(load_capture("claude_code_06_count_tokens_b")["body"]))
    assert probe < 50 < 5_000 < with_tools


def test_a_first_claude_code_turn_is_counted_in_the_expected_range() -> None:
    tokens = count_tokens(parse_anthropic(load_capture("claude_code_02_messages_stream_first_turn")["body"]))
    # 83 KB of English prose and JSON schemas: roughly 4 bytes per token
    assert 12_000 < tokens < 30_000


def test_known_text_counts() -> None:
    assert count_text("") == 0
    assert count_text("hello world") == 2


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("I'll say   it's 12345 times!\n\n", 11),
        ("中文日本語 😀 ÄéßΩ", 12),
        ("def f(x):\n    return x  \n", 8),
    ],
)
def test_counts_match_cl100k_base_on_contractions_digits_unicode_and_whitespace(
    text: str, tokens: int
) -> None:
    assert count_text(text) == tokens  # figures from bpe_openai's cl100k_base, the tokenizer used before


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("claude_code_02_messages_stream_first_turn", 16_943),
        ("claude_code_06_count_tokens_b", 7_457),
        ("sdk_anthropic_py_stream_tool_result", 58),
    ],
)
def test_capture_counts_are_unchanged_by_the_tokenizer_swap(name: str, tokens: int) -> None:
    assert count_tokens(parse_anthropic(load_capture(name)["body"])) == tokens


@pytest.mark.e2e
def test_loading_the_tokenizer_never_imports_bpe_openai() -> None:
    # its native library maps 74 MB; only its data file is read
    code = (
        "import sys; from services.gateway.translate import count_text, load_tokenizer; load_tokenizer(); "
        "assert count_text('hello world') == 2; print('bpe_openai' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60, cwd=ROOT
    )
    assert out.stdout.strip() == "False"


def test_text_beyond_the_tokenizers_per_call_limit_is_counted_in_pieces() -> None:
    text = "".join(f"w{i} " for i in range(250_000))  # ~ 1.6 MB, over 200 000 tokens in one piece
    assert count_text(text) > 200_000


def test_images_and_tool_traffic_count_in_both_protocols() -> None:
    plain = parse_openai({"model": "m", "messages": [{"role": "user", "content": "look"}]})
    with_image = parse_openai(
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    ],
                }
            ],
        }
    )
    assert count_tokens(with_image) > count_tokens(plain) + 1_000
    tool_turn = parse_anthropic(load_capture("sdk_anthropic_py_stream_tool_result")["body"])
    first_turn = parse_anthropic(load_capture("sdk_anthropic_py_stream_tools")["body"])
    assert count_tokens(tool_turn) > count_tokens(first_turn)
