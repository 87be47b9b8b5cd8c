"""Client model names -> Kiro model ids, with anchored rules only (kiro-protocol.md §4.1)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.errors import InvalidRequestError

#: Kiro ids known to exist when ListAvailableModels cannot be asked (kiro-protocol.md §4)
KNOWN_MODELS: tuple[str, ...] = (
    "auto",
    "claude-sonnet-4",
    "claude-sonnet-4.5",
    "claude-haiku-4.5",
    "claude-opus-4.5",
    "claude-sonnet-4.6",
    "claude-opus-4.6",
)

DEFAULT_CONTEXT_WINDOW = 200_000

_FAMILIES = "sonnet|opus|haiku"
# claude-sonnet-4-5, claude-sonnet-4.5, claude-sonnet-4-5-20250929, claude-sonnet-4-20250514, ...-latest
_MODERN = re.compile(
    rf"^claude-(?P<family>{_FAMILIES})-(?P<major>\d)(?:[-.](?P<minor>\d{{1,2}}))?"
    r"(?:-(?:\d{8}|latest))?(?:-v\d+(?::\d+)?)?$"
)
# claude-3-7-sonnet-20250219, claude-3.5-sonnet-latest, claude-4.5-opus-high (inverted), claude-4-sonnet
_INVERTED = re.compile(
    rf"^claude-(?P<major>\d)(?:[-.](?P<minor>\d{{1,2}}))?-(?P<family>{_FAMILIES})"
    r"(?:-(?:\d{8}|latest|high|medium|low|max))?$"
)
# what OpenAI-protocol clients send when they do not know our models: served by the default model
_OPENAI_NAME = re.compile(r"^(?:gpt-|chatgpt-|o\d+(?:-|$)|text-|davinci|codex-)")
_CONTEXT_SUFFIX = re.compile(r"\[\w+\]$")  # Claude Code's "claude-opus-4-8[1m]"


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    kiro_id: str
    thinking: bool
    client_name: str


def normalize_model_name(name: str) -> str:
    """The Kiro spelling of a Claude model name (dots, no date); other names come back lower-cased."""
    lowered = _CONTEXT_SUFFIX.sub("", name.strip().lower())
    match = _MODERN.match(lowered) or _INVERTED.match(lowered)
    if match is None:
        return lowered
    family, major, minor = match["family"], int(match["major"]), match["minor"]
    version = f"{major}.{int(minor)}" if minor is not None else str(major)
    if major < 4 and match.re is _INVERTED:
        return f"claude-{version}-{family}"  # the Claude 3.x ids keep the old word order
    return f"claude-{family}-{version}"


class ModelResolver:
    """Resolves client model names against the models Kiro offers (the cached ListAvailableModels)."""

    def __init__(
        self,
        available: Iterable[str],
        aliases: Mapping[str, str] | None = None,
        default_model: str = "claude-sonnet-4.5",
        thinking_suffix: str = "-thinking",
    ) -> None:
        self.available = list(dict.fromkeys(available))
        self._by_lower = {m.lower(): m for m in self.available}
        self._aliases = {k.strip().lower(): v for k, v in (aliases or {}).items()}
        self.default_model = default_model
        self.thinking_suffix = thinking_suffix.lower()

    def resolve(self, client_name: str) -> ResolvedModel:
        name = client_name.strip()
        thinking = False
        if self.thinking_suffix and name.lower().endswith(self.thinking_suffix):
            name, thinking = name[: -len(self.thinking_suffix)], True
        kiro_id = self._lookup(name)
        if kiro_id is None:
            valid = ", ".join(self.available) or "(none)"
            raise InvalidRequestError(
                f"model {client_name!r} is not available; valid models: {valid}", param="model"
            )
        return ResolvedModel(kiro_id, thinking, client_name)

    def _lookup(self, name: str) -> str | None:
        alias = self._aliases.get(name.lower())
        if alias is not None:
            name = alias
        exact = self._by_lower.get(name.lower())
        if exact is not None:
            return exact
        normalized = normalize_model_name(name)
        found = self._by_lower.get(normalized)
        if found is not None:
            return found
        if not self.available:
            return normalized  # no list to check against: let Kiro decide
        if _OPENAI_NAME.match(normalized):
            return self._by_lower.get(self.default_model.lower(), self.default_model)
        return self._newest_of_family(normalized)

    def _newest_of_family(self, normalized: str) -> str | None:
        """A newer Claude than Kiro offers (Claude Code's default `claude-opus-4-8`) -> the newest we have."""
        match = _MODERN.match(normalized)
        if match is None:
            return None
        candidates = []
        for model in self.available:
            other = _MODERN.match(model.lower())
            if other is not None and other["family"] == match["family"]:
                candidates.append((int(other["major"]), int(other["minor"] or 0), model))
        return max(candidates)[2] if candidates else None


def context_window(kiro_id: str, overrides: Mapping[str, int] | None = None) -> int:
    """Tokens in the model's context window, for usage maths (200 000 unless configured otherwise)."""
    return (overrides or {}).get(kiro_id, DEFAULT_CONTEXT_WINDOW)
