"""Client model names resolve to Kiro ids by anchored rules (kiro-protocol.md §4.1, docs/models.md), never by
substring, and never silently to another version of a model."""

from __future__ import annotations

import pytest

from services.gateway.translate import KNOWN_MODELS, ModelResolver
from shared.errors import InvalidRequestError
from shared.kiro.models import RETIRED_MODELS, normalize_model_name

AVAILABLE = [*KNOWN_MODELS, "claude-3.7-sonnet", "CLAUDE_SONNET_4_5_20250929_V1_0"]
WITHOUT_37 = [m for m in AVAILABLE if m != "claude-3.7-sonnet"]


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
    ("client_name", "kiro_id", "how"),
    [
        ("claude-sonnet-4.5", "claude-sonnet-4.5", "exact"),
        ("Claude-Sonnet-4.5", "claude-sonnet-4.5", "exact"),  # case
        ("  claude-sonnet-4.5  ", "claude-sonnet-4.5", "exact"),
        (
            "CLAUDE_SONNET_4_5_20250929_V1_0",
            "CLAUDE_SONNET_4_5_20250929_V1_0",
            "exact",
        ),  # legacy id Kiro lists
        ("auto", "auto", "exact"),
        ("claude-sonnet-4-5", "claude-sonnet-4.5", "normalised"),  # dashed
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4.5", "normalised"),  # dated
        ("claude-sonnet-4-5-latest", "claude-sonnet-4.5", "normalised"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4.5", "normalised"),
        ("claude-opus-4-5-20251101", "claude-opus-4.5", "normalised"),
        ("claude-opus-4-6", "claude-opus-4.6", "normalised"),
        ("claude-opus-4-7", "claude-opus-4.7", "normalised"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4", "normalised"),  # not claude-sonnet-4.5
        ("claude-3-7-sonnet-20250219", "claude-3.7-sonnet", "normalised"),  # listed here: served as itself
        ("claude-4.5-opus-high", "claude-opus-4.5", "normalised"),  # inverted
        ("claude-4-sonnet", "claude-sonnet-4", "normalised"),
        ("anthropic/claude-sonnet-4.5", "claude-sonnet-4.5", "normalised"),  # provider prefixes
        ("openrouter/anthropic/claude-sonnet-4-5", "claude-sonnet-4.5", "normalised"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4.5", "normalised"),
        ("claude-opus-4-7[1m]", "claude-opus-4.7", "normalised"),
        ("auto-kiro", "auto", "alias"),
        (
            "claude-3-5-sonnet-latest",
            "claude-sonnet-4.5",
            "alias",
        ),  # the operator's alias wins over the table
        ("fast", "claude-haiku-4.5", "alias"),  # an alias's target is spelt either way
        ("claude-3-5-haiku-20241022", "claude-haiku-4.5", "retired"),  # the built-in table
        ("claude-3-5-haiku-latest", "claude-haiku-4.5", "retired"),
        ("claude-3-opus-20240229", "claude-opus-4.5", "retired"),
        ("claude-3-5-sonnet-20241022", "claude-sonnet-4.5", "retired"),
        ("gpt-4o", "claude-sonnet-4.5", "default"),  # OpenAI names -> default model
        ("gpt-4o-mini", "claude-sonnet-4.5", "default"),
        ("o3-mini", "claude-sonnet-4.5", "default"),
        ("o1", "claude-sonnet-4.5", "default"),
        ("claude-opus-4-8", "claude-opus-4.7", "newer"),  # Claude Code's default, newer than Kiro lists
        ("claude-opus-4-8[1m]", "claude-opus-4.7", "newer"),
        ("claude-opus-5", "claude-opus-4.7", "newer"),
        ("claude-sonnet-4-7-20260101", "claude-sonnet-4.6", "newer"),
    ],
)
def test_client_names_resolve_to_kiro_ids(
    resolver: ModelResolver, client_name: str, kiro_id: str, how: str
) -> None:
    resolved = resolver.resolve(client_name)
    assert (resolved.kiro_id, resolved.how) == (kiro_id, how)
    assert resolved.thinking is False
    assert resolved.client_name == client_name
    assert resolved.served == kiro_id


@pytest.mark.parametrize(
    "client_name",
    [
        "claude-opus-4-1-20250805",
        "claude-opus-4-20250514",
        "claude-opus-4-1",
        "claude-haiku-4",
        "claude-sonnet-3",
    ],
)
def test_an_older_version_kiro_does_not_list_is_a_400_never_the_newest(
    resolver: ModelResolver, client_name: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        resolver.resolve(client_name)
    assert caught.value.status == 400 and caught.value.param == "model"
    assert "older version" in caught.value.message
    assert "claude-opus-4.7" in caught.value.message  # the valid models are named


def test_a_retired_name_the_account_lists_is_served_as_itself_not_by_the_table() -> None:
    assert ModelResolver(AVAILABLE).resolve("claude-3-7-sonnet-latest").kiro_id == "claude-3.7-sonnet"
    retired = ModelResolver(WITHOUT_37).resolve("claude-3-7-sonnet-latest")
    assert (retired.kiro_id, retired.how) == ("claude-sonnet-4.5", "retired")


def test_an_operator_alias_overrides_the_built_in_table_by_either_spelling() -> None:
    for alias in ("claude-3.5-haiku", "claude-3-5-haiku-20241022"):
        resolver = ModelResolver(AVAILABLE, aliases={alias: "claude-sonnet-4"})
        resolved = resolver.resolve("claude-3-5-haiku-20241022")
        assert (resolved.kiro_id, resolved.how) == ("claude-sonnet-4", "alias")


def test_an_alias_never_hides_a_model_the_account_lists() -> None:
    resolver = ModelResolver(AVAILABLE, aliases={"claude-sonnet-4.5": "claude-opus-4.7"})
    assert resolver.resolve("claude-sonnet-4.5").kiro_id == "claude-sonnet-4.5"


def test_a_mapping_whose_target_the_account_lacks_is_a_400_that_says_so() -> None:
    resolver = ModelResolver(["claude-sonnet-4.5"], aliases={"team": "claude-opus-4.7"})
    for name, target in (("team", "claude-opus-4.7"), ("claude-3-5-haiku-20241022", "claude-haiku-4.5")):
        with pytest.raises(InvalidRequestError) as caught:
            resolver.resolve(name)
        assert target in caught.value.message and "claude-sonnet-4.5" in caught.value.message


@pytest.mark.parametrize(
    ("client_name", "kiro_id", "served"),
    [
        ("claude-sonnet-4-5-thinking", "claude-sonnet-4.5", "claude-sonnet-4.5-thinking"),
        ("claude-sonnet-4.5-thinking", "claude-sonnet-4.5", "claude-sonnet-4.5-thinking"),
        ("claude-opus-4-5-20251101-thinking", "claude-opus-4.5", "claude-opus-4.5-thinking"),
        ("auto-kiro-thinking", "auto", "auto-thinking"),
        ("claude-opus-4-8-thinking", "claude-opus-4.7", "claude-opus-4.7-thinking"),
    ],
)
def test_thinking_suffix_is_stripped_and_turns_thinking_on(
    resolver: ModelResolver, client_name: str, kiro_id: str, served: str
) -> None:
    resolved = resolver.resolve(client_name)
    assert (resolved.kiro_id, resolved.thinking, resolved.served) == (kiro_id, True, served)


def test_a_custom_thinking_suffix_is_honoured() -> None:
    resolver = ModelResolver(KNOWN_MODELS, thinking_suffix="-think")
    assert resolver.resolve("claude-sonnet-4-5-think").thinking is True
    assert resolver.resolve("claude-sonnet-4-5").thinking is False


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


def test_against_an_unconfirmed_list_unmapped_names_go_to_kiro_as_spelt() -> None:
    for resolver in (ModelResolver([]), ModelResolver(KNOWN_MODELS, confirmed=False)):
        assert resolver.resolve("claude-sonnet-4-5-20250929").kiro_id == "claude-sonnet-4.5"
        assert resolver.resolve("anything").kiro_id == "anything"
        older = resolver.resolve("claude-opus-4-1-20250805")
        assert (older.kiro_id, older.how) == ("claude-opus-4.1", "unchecked")  # Kiro decides, no upgrade


def test_every_built_in_retired_name_is_in_its_normalised_spelling() -> None:
    for name, model in RETIRED_MODELS.items():
        assert normalize_model_name(name) == name
        assert model in KNOWN_MODELS
