"""Client model names resolve to Kiro ids by anchored rules (kiro-protocol.md §4.1), never by substring."""

from __future__ import annotations

import pytest

from services.gateway.translate import KNOWN_MODELS, ModelResolver
from shared.errors import InvalidRequestError

AVAILABLE = [*KNOWN_MODELS, "claude-3.7-sonnet", "CLAUDE_SONNET_4_5_20250929_V1_0"]


@pytest.fixture
def resolver() -> ModelResolver:
    return ModelResolver(
        AVAILABLE,
        aliases={
            "claude-3-5-sonnet-latest": "claude-sonnet-4.5",
            "auto-kiro": "auto",
            "fast": "claude-haiku-4-5",
        },
        default_model="claude-sonnet-4.5",
        thinking_suffix="-thinking",
    )


@pytest.mark.parametrize(
    ("client_name", "kiro_id"),
    [
        ("claude-sonnet-4.5", "claude-sonnet-4.5"),  # already a Kiro id
        ("claude-sonnet-4-5", "claude-sonnet-4.5"),  # dashed
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4.5"),  # dated
        ("claude-sonnet-4-5-latest", "claude-sonnet-4.5"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4.5"),
        ("claude-opus-4-5-20251101", "claude-opus-4.5"),
        ("claude-opus-4-6", "claude-opus-4.6"),
        ("claude-sonnet-4-6", "claude-sonnet-4.6"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),  # not claude-sonnet-4.5, whatever the order
        ("claude-sonnet-4", "claude-sonnet-4"),
        ("claude-3-7-sonnet-20250219", "claude-3.7-sonnet"),
        ("claude-4.5-opus-high", "claude-opus-4.5"),  # inverted
        ("claude-4-sonnet", "claude-sonnet-4"),
        ("Claude-Sonnet-4.5", "claude-sonnet-4.5"),  # case
        ("  claude-sonnet-4-5  ", "claude-sonnet-4.5"),
        ("CLAUDE_SONNET_4_5_20250929_V1_0", "CLAUDE_SONNET_4_5_20250929_V1_0"),  # legacy id listed by Kiro
        ("auto", "auto"),
        ("auto-kiro", "auto"),  # alias
        ("claude-3-5-sonnet-latest", "claude-sonnet-4.5"),  # alias of a retired model
        ("fast", "claude-haiku-4.5"),  # alias target is normalised too
        ("gpt-4o", "claude-sonnet-4.5"),  # OpenAI names -> default model
        ("gpt-4o-mini", "claude-sonnet-4.5"),
        ("o3-mini", "claude-sonnet-4.5"),
        ("o1", "claude-sonnet-4.5"),
        ("claude-opus-4-8", "claude-opus-4.6"),  # Claude Code's default, newer than Kiro: newest Opus
        ("claude-opus-4-8[1m]", "claude-opus-4.6"),
    ],
)
def test_client_names_resolve_to_kiro_ids(resolver: ModelResolver, client_name: str, kiro_id: str) -> None:
    resolved = resolver.resolve(client_name)
    assert resolved.kiro_id == kiro_id
    assert resolved.thinking is False
    assert resolved.client_name == client_name


@pytest.mark.parametrize(
    ("client_name", "kiro_id"),
    [
        ("claude-sonnet-4-5-thinking", "claude-sonnet-4.5"),
        ("claude-sonnet-4.5-thinking", "claude-sonnet-4.5"),
        ("claude-opus-4-5-20251101-thinking", "claude-opus-4.5"),
        ("auto-kiro-thinking", "auto"),
    ],
)
def test_thinking_suffix_is_stripped_and_turns_thinking_on(
    resolver: ModelResolver, client_name: str, kiro_id: str
) -> None:
    resolved = resolver.resolve(client_name)
    assert (resolved.kiro_id, resolved.thinking) == (kiro_id, True)


def test_a_custom_thinking_suffix_is_honoured() -> None:
    resolver = ModelResolver(KNOWN_MODELS, thinking_suffix="-think")
    assert resolver.resolve("claude-sonnet-4-5-think").thinking is True
    assert resolver.resolve("claude-sonnet-4-5-thinking".replace("-thinking", "")).thinking is False


@pytest.mark.parametrize(
    "client_name", ["foo", "mistral-large", "claude-sonnet-4-5x", "sonnet", "claude-4-5"]
)
def test_unknown_model_is_a_400_listing_the_valid_models(resolver: ModelResolver, client_name: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        resolver.resolve(client_name)
    assert caught.value.status == 400
    assert caught.value.param == "model"
    assert client_name in caught.value.message
    for model in AVAILABLE:
        assert model in caught.value.message


def test_a_family_kiro_does_not_offer_is_not_mapped_to_another_family() -> None:
    resolver = ModelResolver(["claude-sonnet-4.5"])
    with pytest.raises(InvalidRequestError):
        resolver.resolve("claude-opus-4-8")


def test_with_no_model_list_names_are_normalised_and_passed_through() -> None:
    resolver = ModelResolver([])
    assert resolver.resolve("claude-sonnet-4-5-20250929").kiro_id == "claude-sonnet-4.5"
    assert resolver.resolve("anything").kiro_id == "anything"
