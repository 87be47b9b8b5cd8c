"""Runtime settings edited from the admin panel: validated here, stored as JSON values in `keys.settings()`.

`services.router.runtime.RuntimeSettings` reads the same hash in every router; a `settings_changed`
notice on `keys.events()` makes the others drop their cache.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, cast

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.router.context import AppContext
from shared import runtime_options
from shared.kiro.endpoint_table import ENDPOINT_NAMES, ORIGINS, parse_order, parse_origins
from shared.kiro.models import RETIRED_MODELS, retired_overrides
from shared.runtime_options import ClaudeThinkingFormat, ThinkingFormat
from shared.runtime_settings import store_settings

MAX_ALIASES = 200
_NAME_MAX = 128

DEFAULTS: dict[str, Any] = {
    "thinking_suffix": runtime_options.THINKING_SUFFIX,
    "openai_thinking_format": runtime_options.OPENAI_THINKING_FORMAT,
    "claude_thinking_format": runtime_options.CLAUDE_THINKING_FORMAT,
    "default_model": runtime_options.DEFAULT_MODEL_UNSET,
    "model_aliases": {},
    "auto_continue": runtime_options.AUTO_CONTINUE,
    "endpoint_order": runtime_options.ENDPOINT_ORDER,
    "endpoint_origins": dict(runtime_options.ENDPOINT_ORIGINS),
}


class SettingsUpdate(BaseModel):
    """A partial change: only the fields sent are written."""

    model_config = ConfigDict(extra="ignore")

    thinking_suffix: str | None = Field(
        None, min_length=1, max_length=64, description="model name suffix that turns thinking on"
    )
    openai_thinking_format: ThinkingFormat | None = Field(
        None, description="how OpenAI answers show thinking"
    )
    claude_thinking_format: ClaudeThinkingFormat | None = Field(
        None, description="how Anthropic answers show thinking: blocks, or thinking_tags in the text"
    )
    default_model: str | None = Field(None, max_length=_NAME_MAX, description="model when none is named")
    model_aliases: dict[str, str] | None = Field(None, description="alias -> Kiro model id")
    auto_continue: bool | None = Field(None, description="continue answers cut off at the output limit")
    failover_attempts: int | None = Field(None, ge=1, le=16, description="accounts tried before first byte")
    max_concurrency: int | None = Field(
        None, ge=1, le=1000, description="in-flight requests per account without its own cap"
    )
    min_interval_ms: int | None = Field(
        None, ge=0, le=600_000, description="governor spacing between request starts (accounts without own)"
    )
    endpoint_order: str | None = Field(
        None,
        max_length=200,
        description=f"chat endpoints tried in order: auto, or a comma list of {', '.join(ENDPOINT_NAMES)}",
    )
    endpoint_origins: dict[str, str] | None = Field(
        None, description=f"endpoint name -> origin ({' or '.join(ORIGINS)}) replacing its default"
    )

    def check_endpoints(self) -> None:
        """Normalise the endpoint order and origins; ValueError naming the valid names and origins.

        Checked here rather than by a validator so that a wrong value is a 400 with that message.
        """
        if self.endpoint_order is not None:
            self.endpoint_order = parse_order(self.endpoint_order)
        if self.endpoint_origins is not None:
            self.endpoint_origins = parse_origins(self.endpoint_origins)

    @field_validator("thinking_suffix")
    @classmethod
    def _no_spaces(cls, value: str | None) -> str | None:
        if value is not None and (value != value.strip() or " " in value):
            raise ValueError("must not contain spaces")
        return value

    @field_validator("default_model")
    @classmethod
    def _trimmed(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @field_validator("model_aliases")
    @classmethod
    def _aliases(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if len(value) > MAX_ALIASES:
            raise ValueError(f"at most {MAX_ALIASES} aliases")
        clean: dict[str, str] = {}
        for raw_alias, raw_model in value.items():
            alias, model = raw_alias.strip(), raw_model.strip()
            if not alias or not model:
                raise ValueError("aliases and models must not be empty")
            if len(alias) > _NAME_MAX or len(model) > _NAME_MAX:
                raise ValueError(f"alias and model names are at most {_NAME_MAX} characters")
            if alias == model:
                raise ValueError(f"alias {alias!r} points to itself")
            clean[alias] = model
        return clean


def _decode(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


async def read_settings(ctx: AppContext) -> dict[str, Any]:
    """The effective runtime settings: stored values over the defaults."""
    stored = await cast(Awaitable[dict[str, str]], ctx.redis.hgetall(ctx.keys.settings()))
    defaults: dict[str, Any] = {
        **DEFAULTS,
        "failover_attempts": ctx.settings.failover_attempts,
        "max_concurrency": ctx.settings.default_max_concurrency,
        "min_interval_ms": ctx.settings.default_min_interval_ms,
    }
    current = dict(defaults)
    for name in current:
        if name in stored and stored[name] != "":
            current[name] = _decode(stored[name])
    current["defaults"] = defaults  # what an emptied field goes back to (the panel has none of its own)
    aliases = current["model_aliases"] if isinstance(current["model_aliases"], dict) else {}
    current["built_in_aliases"] = built_in_aliases(aliases)
    return current


def built_in_aliases(aliases: dict[str, str]) -> list[dict[str, Any]]:
    """The built-in table of retired names (read-only), each with the operator aliases that replace it."""
    overrides = retired_overrides(aliases)
    return [
        {"name": name, "model": model, "overridden_by": overrides[name]}
        for name, model in RETIRED_MODELS.items()
    ]


async def write_settings(ctx: AppContext, update: SettingsUpdate) -> dict[str, Any]:
    """Store the fields sent, tell every router, and return the effective settings."""
    await store_settings(ctx.redis, ctx.keys, update.model_dump(exclude_none=True))
    ctx.runtime.invalidate()
    return await read_settings(ctx)
