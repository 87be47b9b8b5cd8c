"""What a Kiro account's model list is, as every service reads it.

The refresher caches each account's ListAvailableModels answer in Redis (`Keys.account_models`) in the
`encode_catalogue` format and the gateways read it back with `decode_catalogue`; a standalone gateway asks
Kiro itself and parses the same entries with `model_info`. Also here: the built-in table of retired model
names (`retired_models.json`, docs/models.md), which models the thinking suffix is listed for, and the
header a gateway names the model it served in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Final

import orjson


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model an account may use."""

    id: str
    display_name: str
    context_window: int | None = None


@dataclass(frozen=True, slots=True)
class Catalogue:
    """One account's model list and when it was fetched (unix seconds)."""

    models: tuple[ModelInfo, ...]
    fetched_at: float


def model_info(raw: object) -> ModelInfo | None:
    """One ListAvailableModels entry; None for one that names no model (skipped, not fatal)."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("modelId"), str) or not raw["modelId"]:
        return None
    limits = raw.get("tokenLimits")
    window = limits.get("maxInputTokens") if isinstance(limits, Mapping) else None
    return ModelInfo(
        id=str(raw["modelId"]),
        display_name=str(raw.get("modelName") or raw["modelId"]),
        context_window=int(window) if isinstance(window, int) and window > 0 else None,
    )


def model_infos(raw: Iterable[object]) -> tuple[ModelInfo, ...]:
    """The usable entries of a ListAvailableModels `models` list, in Kiro's order."""
    return tuple(info for info in map(model_info, raw) if info is not None)


def encode_catalogue(models: Iterable[ModelInfo], fetched_at: float) -> bytes:
    """The Redis value of one account's list (the field names are Kiro's, so the value reads as Kiro's)."""
    entries = [
        {"modelId": m.id, "modelName": m.display_name}
        | ({"tokenLimits": {"maxInputTokens": m.context_window}} if m.context_window else {})
        for m in models
    ]
    return orjson.dumps({"models": entries, "fetched_at": fetched_at})


def decode_catalogue(raw: bytes | str | None) -> Catalogue | None:
    """A cached list; None when there is none or it is unreadable (the reader then finds its own)."""
    if not raw:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        return None
    models = model_infos(data["models"])
    fetched_at = data.get("fetched_at")
    if not models or not isinstance(fetched_at, int | float):
        return None
    return Catalogue(models, float(fetched_at))


_FAMILIES = "sonnet|opus|haiku"
# claude-sonnet-4-5, claude-sonnet-4.5, claude-sonnet-4-5-20250929, claude-sonnet-4-20250514, ...-latest
_MODERN = re.compile(
    rf"^claude-(?P<family>{_FAMILIES})-(?P<major>\d)(?:[-.](?P<minor>\d{{1,2}}))?"
    r"(?:-(?:\d{8}|latest))?(?:-v\d+(?::\d+)?)?$"
)
# claude-3-7-sonnet-20250219, claude-3.5-sonnet-latest, claude-4.5-opus-high (inverted), claude-4-sonnet
_INVERTED = re.compile(
    rf"^claude-(?P<major>\d)(?:[-.](?P<minor>\d{{1,2}}))?-(?P<family>{_FAMILIES})"
    r"(?:-(?:\d{8}|latest|high|medium|low|max))?(?:-v\d+(?::\d+)?)?$"
)
# provider prefixes routers and SDK wrappers put in front: anthropic/…, openrouter/anthropic/…,
# Bedrock's anthropic.… and us.anthropic.…
_PREFIX = re.compile(
    r"^(?:(?:openrouter|bedrock|vertex_ai|anthropic)/)+|^(?:(?:us|eu|apac|global)\.)?anthropic\."
)
_CONTEXT_SUFFIX = re.compile(r"\[\w+\]$")  # Claude Code's "claude-opus-4-8[1m]"


def normalize_model_name(name: str) -> str:
    """The Kiro spelling of a Claude model name (kiro-protocol.md §4.1: dots, no date, no provider prefix);
    other names come back lower-cased. Anchored patterns only, never substrings."""
    lowered = _PREFIX.sub("", _CONTEXT_SUFFIX.sub("", name.strip().lower()))
    match = _MODERN.match(lowered) or _INVERTED.match(lowered)
    if match is None:
        return lowered
    family, major, minor = match["family"], int(match["major"]), match["minor"]
    version = f"{major}.{int(minor)}" if minor is not None else str(major)
    if major < 4 and match.re is _INVERTED:
        return f"claude-{version}-{family}"  # the Claude 3.x ids keep the old word order
    return f"claude-{family}-{version}"


def claude_version(normalized: str) -> tuple[str, tuple[int, int]] | None:
    """(family, (major, minor)) of a Kiro-spelt Claude id (either word order); None for other names."""
    match = _MODERN.match(normalized) or _INVERTED.match(normalized)
    if match is None:
        return None
    return match["family"], (int(match["major"]), int(match["minor"] or 0))


def retired_overrides(aliases: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """For each built-in retired name, the operator aliases that replace it (any spelling of the name)."""
    found: dict[str, dict[str, str]] = {name: {} for name in RETIRED_MODELS}
    for alias, model in aliases.items():
        normalized = normalize_model_name(alias)
        if normalized in found:
            found[normalized][alias] = model
    return found


def lists_thinking_variant(model_id: str) -> bool:
    """Whether `/v1/models` lists `<id><thinking suffix>` for this model.

    Kiro does not say which models reason; thinking is asked for with prompt tags that Claude models
    answer (kiro-protocol.md §5). `auto` and the third-party models get no listed variant (the suffix
    still turns thinking on for any name a client sends).
    """
    return model_id.lower().startswith("claude")


def _load_retired() -> Mapping[str, str]:
    text = resources.files("shared.kiro").joinpath("retired_models.json").read_text(encoding="utf-8")
    table = json.loads(text)
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise ValueError("retired_models.json must map names to model ids")
    return MappingProxyType({str(k): v for k, v in table.items()})


#: retired model names clients still send (normalised spelling) → the Kiro model that serves them;
#: an operator's model alias of the same name wins (docs/models.md)
RETIRED_MODELS: Final[Mapping[str, str]] = _load_retired()
