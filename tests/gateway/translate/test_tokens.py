"""Token estimates for count_tokens and usage (cl100k_base via bpe_openai)."""

from __future__ import annotations

import pytest

from services.gateway.translate import count_text, count_tokens, parse_anthropic, parse_openai
from tests.gateway.translate.fixtures import load_capture

PNG = "iVBORw0KGgoAAAANSUhEUg=="


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
