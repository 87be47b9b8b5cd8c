"""Client model names -> Kiro model ids, with anchored rules only (kiro-protocol.md §4.1, docs/models.md).

Resolution never moves a client silently to another version of a model. In order:
exact id → the same name spelt Kiro's way (dots, no date, no provider prefix) → the operator's alias →
the built-in table of retired names → for a Claude version newer than any the account lists, the newest
of that family → for an OpenAI name, the default model → otherwise the model is not available (400,
naming the models that are). Every step after the second is reported as the served model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from shared.errors import InvalidRequestError
from shared.kiro.models import RETIRED_MODELS, claude_version, normalize_model_name

#: Kiro ids known to exist when ListAvailableModels cannot be asked (kiro-protocol.md §4)
KNOWN_MODELS: tuple[str, ...] = (
    "auto",
    "claude-sonnet-4",
    "claude-sonnet-4.5",
    "claude-haiku-4.5",
    "claude-opus-4.5",
    "claude-sonnet-4.6",
    "claude-opus-4.6",
    "claude-opus-4.7",
)

DEFAULT_CONTEXT_WINDOW = 200_000

#: how a name was resolved; `unchecked`: the account's list is not known, the name goes to Kiro as spelt
How = Literal["exact", "normalised", "alias", "retired", "newer", "default", "unchecked"]

# what OpenAI-protocol clients send when they do not know our models: served by the default model
_OPENAI_NAME = re.compile(r"^(?:gpt-|chatgpt-|o\d+(?:-|$)|text-|davinci|codex-)")


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    kiro_id: str
    thinking: bool
    client_name: str
    how: How = "exact"
    #: what answers name as their `model`: the Kiro id, with the thinking suffix when the client used it
    served: str = ""


class ModelResolver:
    """Resolves client model names against the models an account offers (docs/models.md).

    `confirmed` says the list is the account's own (Kiro's answer); against the built-in fallback list a
    name no rule maps goes to Kiro as spelt, so Kiro rather than a guess decides.
    """

    def __init__(
        self,
        available: Iterable[str],
        aliases: Mapping[str, str] | None = None,
        default_model: str = "claude-sonnet-4.5",
        thinking_suffix: str = "-thinking",
        *,
        confirmed: bool = True,
        retired: Mapping[str, str] = RETIRED_MODELS,
    ) -> None:
        self.available = list(dict.fromkeys(available))
        self.confirmed = confirmed and bool(self.available)
        self._by_lower = {m.lower(): m for m in self.available}
        self._aliases = {k.strip().lower(): v for k, v in (aliases or {}).items()}
        self._retired = retired
        self.default_model = default_model
        self.thinking_suffix = thinking_suffix

    def resolve(self, client_name: str) -> ResolvedModel:
        name = client_name.strip()
        suffix = self.thinking_suffix
        thinking = bool(suffix) and name.lower().endswith(suffix.lower())
        if thinking:
            name = name[: -len(suffix)]
        found = self._lookup(name)
        if found is None:
            raise InvalidRequestError(self._unavailable(client_name, name), param="model")
        kiro_id, how = found
        return ResolvedModel(kiro_id, thinking, client_name, how, kiro_id + suffix if thinking else kiro_id)

    def _lookup(self, name: str) -> tuple[str, How] | None:
        exact = self._by_lower.get(name.lower())
        if exact is not None:
            return exact, "exact"
        normalized = normalize_model_name(name)
        found = self._by_lower.get(normalized)
        if found is not None:
            return found, "normalised"
        for key in (name.lower(), normalized):
            target = self._aliases.get(key)
            if target is not None:
                return self._listed(target, "alias")
        target = self._retired.get(normalized)
        if target is not None:
            return self._listed(target, "retired")
        if _OPENAI_NAME.match(normalized):
            return self._by_lower.get(self.default_model.lower(), self.default_model), "default"
        newest = self._newest_if_newer(normalized)
        if newest is not None:
            return newest, "newer"
        return (normalized, "unchecked") if not self.confirmed else None

    def _listed(self, target: str, how: How) -> tuple[str, How] | None:
        """An alias's target as the account lists it (spelt either way); None when it does not."""
        found = self._by_lower.get(target.strip().lower()) or self._by_lower.get(normalize_model_name(target))
        if found is not None:
            return found, how
        return (normalize_model_name(target), how) if not self.confirmed else None

    def _newest_if_newer(self, normalized: str) -> str | None:
        """A Claude newer than any of its family the account lists (Claude Code's default `claude-opus-4-8`)
        -> the newest of that family. An older version that is not listed is never moved up."""
        asked = claude_version(normalized)
        if asked is None:
            return None
        family, version = asked
        listed = [
            (v[1], m)
            for m in self.available
            if (v := claude_version(m.lower())) is not None and v[0] == family
        ]
        if not listed:
            return None
        newest_version, newest = max(listed)
        return newest if version > newest_version else None

    def _unavailable(self, client_name: str, name: str) -> str:
        valid = ", ".join(self.available) or "(none)"
        normalized = normalize_model_name(name)
        target = (
            self._aliases.get(name.lower()) or self._aliases.get(normalized) or self._retired.get(normalized)
        )
        if target is not None:
            why = f" (it stands for {target!r}, which this account does not offer)"
        elif claude_version(normalized) is not None:
            why = " (an older version is not replaced by a newer one; a model alias can choose one)"
        else:
            why = ""
        return f"model {client_name!r} is not available{why}; valid models: {valid}"


def context_window(kiro_id: str, overrides: Mapping[str, int] | None = None) -> int:
    """Tokens in the model's context window, for usage maths (200 000 unless configured otherwise)."""
    return (overrides or {}).get(kiro_id, DEFAULT_CONTEXT_WINDOW)
